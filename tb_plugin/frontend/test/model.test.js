// Pure functions of the front end's data side (no DOM): run with `npm test` (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  abortable,
  bounds,
  chartDomain,
  compareOrder,
  components,
  componentCentres,
  decodeState,
  defaultEpoch2,
  edgeCrossings,
  encodeState,
  focusSet,
  fitTransform,
  isAbort,
  metricOrder,
  offscreen,
  overlaps,
  packComponents,
  parseSampleList,
  parseSearch,
  prepareGraph,
  problemList,
  searchNodes,
  seedPositions,
  snapEpoch,
  Store,
  tickStep,
  TRANSIENT,
  DEFAULTS,
} from "../src/model.js";

/** A small payload as the graph route sends it. */
function payload(nodes, edges, classNames = ["0", "1", "2", "7"]) {
  return {
    nodes: nodes.map(([members, classes], id) => ({ id, members, size: members.length, classes })),
    edges: edges.map(([source, target]) => ({ source, target, jaccard: 0.5, intersection: 1 })),
    class_names: classNames,
    n_samples: 10,
  };
}

/** A seeded pseudo-random generator (mulberry32), for property checks. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("prepareGraph leaves the payload untouched, freezes it and memoizes", () => {
  const raw = payload([[[0, 1], [2, 0, 0, 0]], [[1, 2], [0, 1, 0, 1]]], [[0, 1]]);
  const g = prepareGraph(raw);
  assert.equal(prepareGraph(raw), g);
  assert.equal(raw.nodes[0].index, undefined);
  assert.ok(Object.isFrozen(raw.nodes[0].members));
  assert.throws(() => {
    raw.nodes[0].dominant = 3;
  }, TypeError);
  assert.deepEqual(g.nodes.map((n) => [n.index, n.dominant, n.labelled]), [[0, 0, 2], [1, 1, 2]]);
  assert.deepEqual(g.links, [{ s: 0, t: 1, jaccard: 0.5, intersection: 1 }]);
});

test("parseSearch: nodes, samples, and classes with numeric names through class:", () => {
  assert.deepEqual(parseSearch("#5"), { kind: "node", id: 5 });
  assert.deepEqual(parseSearch(" 7 "), { kind: "sample", id: 7 });
  assert.deepEqual(parseSearch("S12"), { kind: "sample", id: 12 });
  assert.deepEqual(parseSearch("class:7"), { kind: "class", name: "7", exact: true });
  assert.deepEqual(parseSearch("c: 7"), { kind: "class", name: "7", exact: true });
  assert.deepEqual(parseSearch("do"), { kind: "class", name: "do", exact: false });
  assert.equal(parseSearch("  "), null);
  assert.deepEqual(parseSampleList("12, s40 12"), [12, 40]);
  assert.equal(parseSampleList("12, dog"), null);
});

test("searchNodes: '7' is sample 7, 'c:7' the nodes whose dominant class is named 7", () => {
  const g = prepareGraph(payload([[[7, 1], [0, 2, 0, 0]], [[2, 3], [0, 0, 0, 2]], [[4], [0, 0, 1, 0]]], []));
  assert.deepEqual([...searchNodes(g, "7")], [0]);
  assert.deepEqual([...searchNodes(g, "c:7")], [1]);
  assert.deepEqual([...searchNodes(g, "class:1")], [0]); // exact: "1" is not "17" or "71"
  assert.deepEqual([...searchNodes(g, "#2")], [2]);
  assert.deepEqual([...searchNodes(g, "#9")], []);
});

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

test("chartDomain clamps shares to [0, 1] and counts at 0, with round ticks", () => {
  const flat = chartDomain([0.06, 0.06, 0.06], "fraction");
  assert.ok(flat.lo >= 0 && flat.hi <= 1 && flat.lo < 0.06 && flat.hi > 0.06);
  assert.ok(flat.ticks.length >= 3);
  const counts = chartDomain([1, 1], "count");
  assert.ok(counts.lo === 0 && counts.ticks.every(Number.isInteger));
  const random = rng(3);
  for (let trial = 0; trial < 100; trial++) {
    const vals = Array.from({ length: 1 + Math.floor(random() * 10) }, () => random());
    const { lo, hi, ticks } = chartDomain(vals, "fraction");
    assert.ok(lo >= 0 && hi <= 1 && lo <= Math.min(...vals) && hi >= Math.max(...vals));
    assert.ok(ticks.length >= 2 && ticks.every((v) => v >= lo - 1e-9 && v <= hi + 1e-9));
  }
  assert.equal(tickStep(1, 4), 0.5);
  assert.equal(tickStep(30, 4), 10);
  assert.equal(tickStep(1.1 - 0.9, 4), 0.05);
  assert.deepEqual(chartDomain([1, 1], "fraction").ticks, [0.9, 0.95, 1]);
});

test("metricOrder lists the README's metrics first and drops mean_prediction", () => {
  assert.deepEqual(metricOrder(["mean_loss", "mean_x", "nodes", "mean_prediction", "dead_units", "purity"]), [
    "nodes",
    "purity",
    "dead_units",
    "mean_loss",
    "mean_x",
  ]);
});

test("compare defaults to the previous epoch and asks the route earlier first", () => {
  assert.equal(defaultEpoch2([0, 1, 2, 5], 5), 2);
  assert.equal(defaultEpoch2([0, 1, 2, 5], 0), 1);
  assert.equal(defaultEpoch2([3], 3), 3);
  const a = { epoch: 5 };
  const b = { epoch: 2 };
  assert.deepEqual(compareOrder(a, b), { first: b, second: a, flipped: true });
  assert.deepEqual(compareOrder(b, a), { first: b, second: a, flipped: false });
});

test("problemList sorts the warned epochs", () => {
  assert.deepEqual(problemList({ problems: { 3: "b", 0: "a" } }), [[0, "a"], [3, "b"]]);
  assert.deepEqual(problemList({}), []);
});

test("seedPositions puts a node where its predecessors were", () => {
  const prev = prepareGraph(payload([[[0, 1, 2], null], [[5, 6], null]], []));
  const next = prepareGraph(payload([[[5, 6], null], [[0, 1, 2], null]], []));
  const seeds = seedPositions(prev, [{ x: 0, y: 0 }, { x: 100, y: 50 }], next);
  assert.deepEqual([seeds[0].x, seeds[0].y, seeds[1].x, seeds[1].y], [100, 50, 0, 0]);
  assert.deepEqual(overlaps(prev, next)[0], [[1, 2, 1]]);
});

test("state round-trips through the URL form", () => {
  const state = { run: "r", layer: "fc1", epoch: 3, track: [1, 2], cmp: true, q: "c:7" };
  assert.deepEqual(decodeState(encodeState(state)), state);
  assert.equal(snapEpoch([0, 2, 4], 3), 2);
});

test("abortable rejects with an AbortError when its signal aborts", async () => {
  const c = new AbortController();
  const p = abortable(new Promise(() => {}), c.signal);
  c.abort();
  await assert.rejects(p, (e) => isAbort(e));
  assert.equal(await abortable(Promise.resolve(4), new AbortController().signal), 4);
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

import { linkedNodes, shownLayers } from "../src/model.js";

test("shownLayers: the current layer and its neighbours in watch order, clamped at the ends", () => {
  const L = ["a", "b", "c", "d"];
  assert.deepEqual(shownLayers(L, "b"), ["a", "b", "c"]);
  assert.deepEqual(shownLayers(L, "a"), ["a", "b", "c"]);
  assert.deepEqual(shownLayers(L, "d"), ["b", "c", "d"]);
  assert.deepEqual(shownLayers(["x", "y"], "y"), ["x", "y"]);
  assert.deepEqual(shownLayers(["x"], "x"), ["x"]);
});

test("shownLayers: a valid choice holding the current layer wins, in watch order; otherwise the default", () => {
  const L = ["a", "b", "c", "d"];
  assert.deepEqual(shownLayers(L, "d", "d,a"), ["a", "d"]);
  assert.deepEqual(shownLayers(L, "b", "a,b,b,zz"), ["a", "b"]);
  assert.deepEqual(shownLayers(L, "b", "c,d"), ["a", "b", "c"]); // the current layer missing: default
  assert.deepEqual(shownLayers(L, "b", "b"), ["a", "b", "c"]); // one layer is no choice
});

test("shownLayers: always includes the current layer, at most three, all from the run (property)", () => {
  for (let n = 1; n < 8; n++) {
    const L = Array.from({ length: n }, (_, i) => `l${i}`);
    for (const cur of L) {
      for (const chosen of ["", L.slice(0, 2).join(","), L.join(","), "nope"]) {
        const out = shownLayers(L, cur, chosen);
        assert.ok(out.includes(cur) || !chosen.split(",").includes(cur));
        if (!chosen || chosen === "nope") assert.ok(out.includes(cur) && out.length === Math.min(3, n));
        assert.ok(out.every((l) => L.includes(l)));
        assert.deepEqual(out, L.filter((l) => out.includes(l))); // watch order
      }
    }
  }
});

test("linkedNodes: the nodes of another layer's graph holding a node's samples", () => {
  const from = prepareGraph({ nodes: [{ id: 0, members: [0, 1] }, { id: 1, members: [2, 3] }], edges: [], n_samples: 5 });
  const to = prepareGraph({
    nodes: [{ id: 0, members: [0, 4] }, { id: 1, members: [1, 2] }, { id: 2, members: [3] }, { id: 3, members: [4] }],
    edges: [],
    n_samples: 5,
  });
  assert.deepEqual([...linkedNodes(from, 0, to)].sort(), [0, 1]);
  assert.deepEqual([...linkedNodes(from, 1, to)].sort(), [1, 2]);
  assert.equal(linkedNodes(from, 9, to).size, 0);
});

test("focusSet: the class filter, the search and the projection's selection, each and together", () => {
  // Nodes: 0 {0, 1} classes 0; 1 {1, 2} classes 0 and 1; 2 {3} class 2; 3 {4, 5} class 1.
  const g = prepareGraph(
    payload(
      [
        [[0, 1], [2, 0, 0, 0]],
        [[1, 2], [1, 1, 0, 0]],
        [[3], [0, 0, 1, 0]],
        [[4, 5], [0, 2, 0, 0]],
      ],
      [],
    ),
  );
  const state = new Store().get();
  const focus = (patch) => {
    const f = focusSet(g, { ...state, ...patch });
    return f === null ? null : [...f].sort((a, b) => a - b);
  };
  assert.equal(focus({}), null); // nothing set: nothing faded
  assert.deepEqual(focus({ psel: [1] }), [0, 1]); // the nodes holding a selected sample
  assert.deepEqual(focus({ psel: [3, 5] }), [2, 3]);
  assert.deepEqual(focus({ psel: [9] }), []); // a sample no node holds: every node faded
  assert.deepEqual(focus({ cls: 1 }), [1, 3]);
  assert.deepEqual(focus({ cls: 1, psel: [1, 5] }), [1, 3]);
  assert.deepEqual(focus({ cls: 0, psel: [2, 3] }), [1]);
  assert.deepEqual(focus({ q: "#2", psel: [1] }), []);
  assert.deepEqual(focus({ q: "s1", psel: [0] }), [0]);
});

test("the store starts with an empty projection selection, which the URL never holds", () => {
  const s = new Store().get();
  assert.deepEqual(s.psel, []);
  assert.deepEqual(TRANSIENT, { psel: [] });
  assert.equal("psel" in DEFAULTS, false);
  const store = new Store();
  store.set({ psel: [4, 8], proj: true });
  assert.deepEqual(encodeState(store.get()), { proj: "1" });
  assert.equal("psel" in decodeState({ psel: "4,8" }), false);
});
