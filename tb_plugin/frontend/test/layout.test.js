// Layouts (src/layout.js), their chain along a layer's epochs (src/layoutchain.js) and framing (src/frame.js):
// run with `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { aspectStep, bounds, boxInView, fitTransform, offscreen, panelsPerRow, steadyFrame, unionBox } from "../src/frame.js";
import { overlaps, prepareGraph } from "../src/graph.js";
import { componentCentres, components, edgeCrossings, freshLayout, nodeRadii, packComponents, relax } from "../src/layout.js";
import { LayoutChain, layoutAfter, tweenFrom } from "../src/layoutchain.js";
import { rng } from "./helpers.js";

test("components are largest first", () => {
  const links = [{ s: 0, t: 1 }, { s: 3, t: 4 }, { s: 4, t: 5 }];
  assert.deepEqual(components(7, links), [[3, 4, 5], [0, 1], [2], [6]]);
});

test("packComponents keeps components apart, the largest placed first", () => {
  const random = rng(1);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + Math.floor(random() * 60);
    const links = [];
    for (let i = 1; i < n; i++) if (random() < 0.7) links.push({ s: i, t: Math.floor(random() * i) });
    const radii = Array.from({ length: n }, () => 3 + random() * 20);
    const { positions, discs, centres } = packComponents(n, links, radii);
    const comps = components(n, links);
    assert.equal(discs.length, comps.length);
    // Discs do not overlap, and each component's nodes lie within its disc.
    for (let a = 0; a < discs.length; a++) {
      for (let b = a + 1; b < discs.length; b++) {
        const d = Math.hypot(discs[a].x - discs[b].x, discs[a].y - discs[b].y);
        assert.ok(d >= discs[a].r + discs[b].r - 1e-6, `discs ${a} and ${b} overlap`);
      }
      assert.ok(a === 0 || discs[a].r <= discs[0].r + 1e-9 || comps[a].length <= comps[0].length);
      for (const i of comps[a]) {
        const p = positions[i];
        assert.ok(Math.hypot(p.x - discs[a].x, p.y - discs[a].y) + radii[i] <= discs[a].r + 1e-6);
        assert.deepEqual(centres[i], { x: discs[a].x, y: discs[a].y });
      }
    }
    // No two nodes start on the same spot.
    const keys = new Set(positions.map((p) => `${p.x.toFixed(6)},${p.y.toFixed(6)}`));
    assert.equal(keys.size, n);
  }
});

test("componentCentres is the mean start of each component", () => {
  const c = componentCentres(3, [{ s: 0, t: 1 }], [{ x: 0, y: 0 }, { x: 2, y: 4 }, { x: 9, y: 9 }]);
  assert.deepEqual(c, [{ x: 1, y: 2 }, { x: 1, y: 2 }, { x: 9, y: 9 }]);
});

test("edgeCrossings counts proper crossings only", () => {
  const pos = [{ x: 0, y: 0 }, { x: 2, y: 2 }, { x: 0, y: 2 }, { x: 2, y: 0 }, { x: 5, y: 5 }];
  assert.equal(edgeCrossings(pos, [{ s: 0, t: 1 }, { s: 2, t: 3 }]), 1);
  assert.equal(edgeCrossings(pos, [{ s: 0, t: 1 }, { s: 1, t: 4 }]), 0); // shared end
  assert.equal(edgeCrossings(pos, [{ s: 0, t: 2 }, { s: 1, t: 3 }]), 0); // parallel
});

test("fitTransform puts every node centre inside the view", () => {
  const random = rng(2);
  for (let trial = 0; trial < 50; trial++) {
    const discs = Array.from({ length: 1 + Math.floor(random() * 80) }, () => ({
      x: (random() - 0.5) * 10 ** (1 + 3 * random()),
      y: (random() - 0.5) * 10 ** (1 + 3 * random()),
      r: 1 + random() * 30,
    }));
    const w = 100 + random() * 1200;
    const h = 100 + random() * 800;
    const t = fitTransform(bounds(discs), w, h, { inset: 20 });
    assert.equal(offscreen(discs, t, w, h).count, 0);
    for (const d of discs) assert.ok(d.y * t.k + t.y >= 20 - 1e-6, "a node under the caption band");
  }
  // A tiny graph is not blown up past maxScale.
  assert.equal(fitTransform(bounds([{ x: 0, y: 0, r: 1 }]), 800, 600).k, 4);
});

test("offscreen counts centres by side", () => {
  const t = { k: 1, x: 0, y: 0 };
  const o = offscreen([{ x: -1, y: 5 }, { x: 5, y: 5 }, { x: 20, y: 20 }], t, 10, 10);
  assert.deepEqual(o, { count: 2, left: 1, right: 1, top: 0, bottom: 1 });
});

test("radialTree: the edges of a tree never cross", () => {
  const random = rng(4);
  for (let trial = 0; trial < 30; trial++) {
    const n = 2 + Math.floor(random() * 60);
    const links = [];
    for (let i = 1; i < n; i++) links.push({ s: i, t: Math.floor(random() * i) });
    const { positions } = packComponents(n, links, new Array(n).fill(5));
    assert.equal(edgeCrossings(positions, links), 0);
  }
});

/**
 * A layer's graphs over `epochs` epochs, evolving as training does: samples move between nodes a little at each
 * epoch, and now and then a node splits in two (the halves linked to each other and to its neighbour). The
 * nodes' tree of edges persists. Node ids follow the route's rule (0..n-1 per graph).
 */
function evolving(seed, epochs = 6, nSamples = 240) {
  const random = rng(seed);
  let groups = Array.from({ length: 12 }, (_, k) => ({ key: k, members: Array.from({ length: 20 }, (_, i) => k * 20 + i), link: k ? Math.floor(random() * k) : -1 }));
  let nextKey = 12;
  const out = [];
  for (let e = 0; e < epochs; e++) {
    const index = new Map(groups.map((g, i) => [g.key, i]));
    const nodes = groups.map((g, id) => ({ id, members: [...g.members].sort((x, y) => x - y), size: g.members.length }));
    const edges = groups
      .map((g, i) => [index.get(g.link), i])
      .filter(([a]) => a !== undefined)
      .map(([source, target]) => ({ source, target, jaccard: 0.4 }));
    out.push(prepareGraph({ nodes, edges, class_names: [], n_samples: nSamples }));
    groups = groups.map((g) => ({ ...g, members: [...g.members] }));
    for (let m = 0; m < 6; m++) {
      const a = Math.floor(random() * groups.length);
      const b = Math.floor(random() * groups.length);
      if (a !== b && groups[a].members.length > 4) groups[b].members.push(groups[a].members.pop());
    }
    if (random() < 0.5) {
      const big = groups.reduce((x, y) => (y.members.length > x.members.length ? y : x));
      const half = big.members.splice(big.members.length >> 1);
      groups.push({ key: nextKey++, members: half, link: big.key });
    }
  }
  return out;
}

test("relax and a fresh layout are functions of their inputs: the same inputs give the same positions", () => {
  const g = evolving(5, 1)[0];
  const r = nodeRadii(g, "sqrt");
  assert.deepEqual(freshLayout(g, r, 1.4), freshLayout(g, r, 1.4));
  const start = g.nodes.map((_, i) => ({ x: i * 7, y: (i * 13) % 50 }));
  const targets = start.map(() => ({ x: 0, y: 0 }));
  assert.deepEqual(relax(g, start, r, { targets, ticks: 20 }), relax(g, start, r, { targets, ticks: 20 }));
});

test("an epoch's layout is the same however it is reached: it depends on the epochs before it, never after", async () => {
  const graphs = evolving(7, 6);
  const epochs = graphs.map((_, i) => i * 2);
  const whole = new LayoutChain({ aspect: 1.4 });
  await whole.update(epochs, graphs);
  for (let k = 1; k <= epochs.length; k++) {
    // Opened at epoch k (the chain up to it), or reached after the whole run was laid out: the same positions.
    const upTo = new LayoutChain({ aspect: 1.4 });
    await upTo.update(epochs.slice(0, k), graphs.slice(0, k));
    assert.deepEqual(upTo.at(epochs[k - 1]), whole.at(epochs[k - 1]), `epoch ${epochs[k - 1]}`);
  }
  // A rewritten epoch changes its layout and the later ones, and no earlier one.
  const changed = [...graphs];
  changed[3] = evolving(99, 1)[0];
  const before = whole.steps.map((s) => s.positions);
  assert.equal(await whole.update(epochs, changed), epochs.length - 3);
  assert.deepEqual(whole.steps.slice(0, 3).map((s) => s.positions), before.slice(0, 3));
  assert.notDeepEqual(whole.at(epochs[3]), before[3]);
});

test("nodes that continue a predecessor stay near its place from epoch to epoch (property)", async () => {
  for (const seed of [1, 2, 3, 4]) {
    const graphs = evolving(seed, 6);
    const chain = new LayoutChain({ aspect: 1.4 });
    await chain.update(graphs.map((_, i) => i), graphs);
    const box = chain.box();
    const size = Math.max(box.x1 - box.x0, box.y1 - box.y0);
    for (let e = 1; e < graphs.length; e++) {
      const [a, b] = [chain.steps[e - 1], chain.steps[e]];
      const moves = [];
      // Each node that keeps most of one node of the epoch before (Jaccard at least 1/2), against that node.
      overlaps(a.graph, b.graph).forEach((list, i) => {
        const best = list.reduce((x, y) => (y[2] > x[2] ? y : x), [null, 0, 0]);
        if (best[2] >= 0.5) moves.push(Math.hypot(b.positions[i].x - a.positions[best[0]].x, b.positions[i].y - a.positions[best[0]].y));
      });
      assert.ok(moves.length >= 5, `seed ${seed}, epoch ${e}: ${moves.length} continuing nodes`);
      moves.sort((x, y) => x - y);
      const median = moves[Math.floor((moves.length - 1) / 2)];
      assert.ok(median < 0.02 * size, `seed ${seed}, epoch ${e}: median move ${median} in a layout ${size} wide`);
    }
  }
});

test("the frame rule: one frame holds every epoch of a chain, so stepping never moves the camera", async () => {
  const graphs = evolving(11, 6);
  const chain = new LayoutChain({ aspect: 1.4 });
  await chain.update(graphs.map((_, i) => i), graphs);
  const [w, h] = [960, 700];
  let t = steadyFrame(null, chain.box(), w, h, { inset: 26 });
  for (const s of chain.steps) {
    const r = nodeRadii(s.graph, "sqrt");
    const discs = s.positions.map((p, i) => ({ ...p, r: r[i] }));
    assert.equal(offscreen(discs, t, w, h).count, 0, `epoch ${s.epoch}`);
    assert.ok(boxInView(bounds(discs), t, w, h, 26));
    // Every epoch keeps the frame.
    assert.equal(steadyFrame(t, chain.box(), w, h, { inset: 26 }), t);
  }
  // A box that grows past the view (a new epoch far out) moves the camera once; one much smaller than the view
  // (another layer) is framed afresh too.
  const grown = unionBox([chain.box(), { x0: 5000, y0: 0, x1: 5100, y1: 10 }]);
  t = steadyFrame(t, grown, w, h, { inset: 26 });
  assert.ok(boxInView(grown, t, w, h, 26));
  const small = { x0: 0, y0: 0, x1: 10, y1: 10 };
  assert.deepEqual(steadyFrame(t, small, w, h), fitTransform(small, w, h));
});

test("tweenFrom: a continuing node starts at its predecessor's drawn place, a new one at its own", () => {
  const [a, b] = evolving(3, 2);
  const drawn = a.nodes.map((_, i) => ({ x: 1000 + i, y: 0 }));
  const to = b.nodes.map((_, i) => ({ x: -i, y: -1 }));
  const from = tweenFrom(a, drawn, b, to);
  assert.equal(from.length, b.nodes.length);
  assert.deepEqual(from[0], { x: 1000, y: 0 }); // node 0 keeps most of node 0's members
  assert.equal(tweenFrom(null, drawn, b, to), null);
  assert.equal(tweenFrom(a, drawn.slice(1), b, to), null); // drawn positions of another graph: no move
});

test("a layout uses its view: components do not push one another into the corners", () => {
  // Many small components (what a pca or knn lens often gives when re-mapped): the relaxed layout stays about as
  // compact as the packing, in about the view's shape.
  const nodes = [];
  const edges = [];
  for (let c = 0; c < 30; c++) {
    const size = 1 + (c % 4);
    for (let k = 0; k < size; k++) {
      nodes.push({ id: nodes.length, members: [nodes.length], size: 1 + ((c * 7 + k) % 9) });
      if (k) edges.push({ source: nodes.length - 2, target: nodes.length - 1, jaccard: 0.5 });
    }
  }
  const g = prepareGraph({ nodes, edges, class_names: [], n_samples: 60 });
  const r = nodeRadii(g, "sqrt");
  for (const aspect of [0.7, 1.4]) {
    const packed = packComponents(g.nodes.length, g.links, r, { aspect });
    const pb = bounds(packed.positions.map((p, i) => ({ ...p, r: r[i] })));
    const lb = bounds(freshLayout(g, r, aspect).map((p, i) => ({ ...p, r: r[i] })));
    const area = (b) => (b.x1 - b.x0) * (b.y1 - b.y0);
    assert.ok(area(lb) <= 1.3 * area(pb), `aspect ${aspect}: ${area(lb)} vs packed ${area(pb)}`);
    const shape = (lb.x1 - lb.x0) / (lb.y1 - lb.y0);
    assert.ok(shape > aspect / 1.6 && shape < aspect * 1.6, `aspect ${aspect}: shape ${shape}`);
  }
});

test("layoutAfter lays another graph out from a first one's positions (compare across layers)", () => {
  const [a, b] = evolving(4, 2);
  const ra = nodeRadii(a, "sqrt");
  const pa = freshLayout(a, ra, 1);
  const pb = layoutAfter(a, pa, b, nodeRadii(b, "sqrt"));
  assert.equal(pb.length, b.nodes.length);
  assert.deepEqual(layoutAfter(a, pa, b, nodeRadii(b, "sqrt")), pb);
  assert.deepEqual(layoutAfter(null, null, b, nodeRadii(b, "sqrt"), 1), freshLayout(b, nodeRadii(b, "sqrt"), 1));
});

test("layers mode: panels stay at least PANEL_MIN_WIDTH wide, the rest scroll; aspects come in a few steps", () => {
  assert.equal(panelsPerRow(960, 3), 2); // 1,280 px page with the side bar
  assert.equal(panelsPerRow(1600, 3), 3);
  assert.equal(panelsPerRow(300, 3), 1);
  assert.equal(panelsPerRow(2000, 2), 2);
  assert.equal(aspectStep(1080, 800), 1.4);
  assert.equal(aspectStep(540, 800), 0.7);
  assert.equal(aspectStep(0, 0), 1);
  assert.equal(aspectStep(1090, 790), aspectStep(1080, 800)); // a small resize keeps the layouts
});
