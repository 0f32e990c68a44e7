// Layout of one graph, as a pure function of its inputs: components packed apart (radial trees of their
// breadth-first spanning trees), then relaxed by a fixed number of d3-force steps from a seeded random source, so
// that the same inputs always give the same positions. layoutchain.js strings these along a layer's epochs.
// Nothing in here touches the DOM (unit-tested by node --test).

import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY } from "d3-force";

/** Drawn radius of a node of `size` members among `nSamples`, node area growing as the square root or the log. */
export function radiusOf(size, nSamples, mode) {
  const n = Math.max(nSamples, 1);
  if (mode === "log") return 3 + (22 * Math.log1p(size)) / Math.log1p(n);
  return 3 + 22 * Math.sqrt(size / n);
}

/** Every node's radius in graph `g` under size mode `mode`. */
export function nodeRadii(g, mode) {
  const nSamples = g.n_samples || 1;
  return g.nodes.map((n) => radiusOf(n.size ?? n.members.length, nSamples, mode));
}

/** Connected components of a graph of `n` nodes, as lists of node indices: largest first, ties by first index. */
export function components(n, links) {
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i) => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const l of links) {
    const a = find(l.s);
    const b = find(l.t);
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
  }
  const groups = new Map();
  for (let i = 0; i < n; i++) {
    const r = find(i);
    if (!groups.has(r)) groups.set(r, []);
    groups.get(r).push(i);
  }
  return [...groups.values()].sort((a, b) => b.length - a.length || a[0] - b[0]);
}

/** Breadth-first distances from `start` within a component, and the parent of each node on the way. */
function bfs(start, adj) {
  const dist = new Map([[start, 0]]);
  const parent = new Map([[start, -1]]);
  const order = [start];
  for (let k = 0; k < order.length; k++) {
    const u = order[k];
    for (const v of adj[u]) {
      if (dist.has(v)) continue;
      dist.set(v, dist.get(u) + 1);
      parent.set(v, u);
      order.push(v);
    }
  }
  return { dist, parent, order };
}

/**
 * A radial layout of a breadth-first spanning tree of one component (unit ring spacing): rooted at the middle
 * of a longest shortest path (so the tree is as shallow as it can be), each subtree in a wedge proportional to
 * its leaves. Tree edges cannot cross; Mapper graphs are mostly trees, so the relaxation starts untangled.
 */
export function radialTree(nodes, adj) {
  if (nodes.length === 1) return [{ i: nodes[0], x: 0, y: 0 }];
  const far = (from) => {
    const r = bfs(from, adj);
    return [r.order[r.order.length - 1], r];
  };
  const [u] = far(nodes[0]);
  const [v, fromU] = far(u);
  const path = [];
  for (let w = v; w !== -1; w = fromU.parent.get(w)) path.push(w);
  const root = path[Math.floor(path.length / 2)];
  const { parent, order, dist } = bfs(root, adj);
  const children = new Map(order.map((w) => [w, []]));
  for (const w of order) if (parent.get(w) !== -1) children.get(parent.get(w)).push(w);
  const leaves = new Map();
  for (let k = order.length - 1; k >= 0; k--) {
    const w = order[k];
    const kids = children.get(w);
    leaves.set(w, kids.length ? kids.reduce((sum, c) => sum + leaves.get(c), 0) : 1);
  }
  const wedge = new Map([[root, [0, 2 * Math.PI]]]);
  const out = [];
  for (const w of order) {
    const [a0, a1] = wedge.get(w);
    const r = dist.get(w);
    const a = (a0 + a1) / 2;
    out.push({ i: w, x: r * Math.cos(a), y: r * Math.sin(a) });
    let start = a0;
    for (const c of children.get(w)) {
      const span = ((a1 - a0) * leaves.get(c)) / leaves.get(w);
      wedge.set(c, [start, start + span]);
      start += span;
    }
  }
  return out;
}

/**
 * A fresh layout's starting positions: each component on its own disc (a radial layout of its breadth-first
 * tree, see radialTree), the discs packed apart in rows, largest first,
 * into a block of about `aspect` (width / height, the view's) centred on the origin. `radii[i]` is node i's
 * drawn radius.
 * Returns `{positions: [{x, y}], centres: [{x, y}] (per node: its component's centre), discs: [{x, y, r}]}`.
 */
export function packComponents(n, links, radii, { gap = 30, aspect = 1 } = {}) {
  const comps = components(n, links);
  const adj = Array.from({ length: n }, () => []);
  for (const l of links) {
    adj[l.s].push(l.t);
    adj[l.t].push(l.s);
  }
  const positions = new Array(n);
  const local = comps.map((nodes) => {
    const pts = radialTree(nodes, adj);
    const meanR = nodes.reduce((sum, k) => sum + radii[k], 0) / nodes.length;
    const step = 2.4 * meanR + 10;
    let R = 0;
    for (const p of pts) {
      p.x *= step;
      p.y *= step;
      R = Math.max(R, Math.hypot(p.x, p.y) + radii[p.i]);
    }
    return { pts, R };
  });
  // Shelf packing: rows about as wide as the square root of the total disc area, largest discs first.
  const area = local.reduce((s, c) => s + (2 * c.R + gap) ** 2, 0);
  const rowWidth = Math.max(Math.sqrt(area * aspect), local.length ? 2 * local[0].R + gap : 0);
  const discs = [];
  const rows = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  for (const c of local) {
    const d = 2 * c.R + gap;
    if (x > 0 && x + d > rowWidth) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    if (x === 0) rows.push([]);
    const disc = { x: x + d / 2, y: y + d / 2, r: c.R };
    discs.push(disc);
    rows[rows.length - 1].push(disc);
    x += d;
    rowHeight = Math.max(rowHeight, d);
  }
  // Centre the block (each row centred on its own width, so a short last row does not hang to one side).
  const height = y + rowHeight;
  for (const row of rows) {
    const last = row[row.length - 1];
    const width = last.x + last.r + gap / 2;
    for (const d of row) {
      d.x -= width / 2;
      d.y -= height / 2;
    }
  }
  const centres = new Array(n);
  local.forEach((c, k) => {
    for (const p of c.pts) {
      positions[p.i] = { x: discs[k].x + p.x, y: discs[k].y + p.y };
      centres[p.i] = { x: discs[k].x, y: discs[k].y };
    }
  });
  return { positions, centres, discs };
}

/** For each node, the mean starting position of its component (where the layout holds that component). */
export function componentCentres(n, links, positions) {
  const centres = new Array(n);
  for (const nodes of components(n, links)) {
    let x = 0;
    let y = 0;
    for (const i of nodes) {
      x += positions[i].x;
      y += positions[i].y;
    }
    const c = { x: x / nodes.length, y: y / nodes.length };
    for (const i of nodes) centres[i] = c;
  }
  return centres;
}

/** Number of pairs of edges that cross (edges sharing an end do not count). Quadratic: for tests and checks. */
export function edgeCrossings(positions, links) {
  const cross = (a, b, c) => (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
  let count = 0;
  for (let i = 0; i < links.length; i++) {
    const { s: a, t: b } = links[i];
    for (let j = i + 1; j < links.length; j++) {
      const { s: c, t: d } = links[j];
      if (a === c || a === d || b === c || b === d) continue;
      const [p, q, r, s] = [positions[a], positions[b], positions[c], positions[d]];
      if (cross(p, q, r) * cross(p, q, s) < 0 && cross(r, s, p) * cross(r, s, q) < 0) count++;
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------- relaxation
/**
 * Steps of relaxation: a fresh layout's; a step along the epochs', with the nodes that continue a predecessor held
 * in place; then the settling that lets those go gently. A graph of more than SMALL nodes takes proportionally
 * fewer, down to a tenth (a step costs about as much per node; a large graph starts packed, or from the epoch
 * before, near its end state; and every epoch of the layer is laid out).
 */
export const TICKS = Object.freeze({ fresh: 160, step: 70, settle: 60 });
const SMALL = 200;
const ALPHA_MIN = 0.005;
/** Pull towards the component's centre (every node), and towards its predecessors' place (a matched node). */
const CENTRE_PULL = 0.04;
export const ANCHOR_PULL = 0.25;

/** The steps of kind `kind` (TICKS) for a graph of `n` nodes. */
export function ticksFor(kind, n) {
  return Math.max(1, Math.round(TICKS[kind] * Math.max(0.1, Math.min(1, SMALL / Math.max(1, n)))));
}

/** A seeded linear congruential generator (d3-force's own default), fresh for each layout. */
function lcg() {
  let s = 1;
  return () => (s = (1664525 * s + 1013904223) % 4294967296) / 4294967296;
}

/**
 * A force applied within each group of nodes on its own (`groups`: lists of node indices). The charge acts within
 * components only: between components it pushed them apart into the corners of the view, leaving its centre
 * empty; the collision force and the pull towards each component's centre keep components apart instead.
 */
function perGroup(groups, make) {
  const forces = groups.map(() => make());
  const force = (alpha) => {
    for (const f of forces) f(alpha);
  };
  force.initialize = (nodes, random) => forces.forEach((f, k) => f.initialize(groups[k].map((i) => nodes[i]), random));
  return force;
}

/**
 * The relaxation of graph `g` from positions `start` (`[{x, y}]`), node radii `r`, one step per `next()`, for
 * exactly `ticks` steps from heat `alpha` down to the minimum: links pull to a length set by the radii and the
 * Jaccard weight, nodes repel within their component and never overlap, each is pulled towards `targets[i]` (its
 * component's centre; less so along the long side of a pane of shape `aspect`, width / height, so the layout
 * takes the pane's shape) and, when `anchors[i]` is set, towards it more strongly. With `settle`, anchored nodes stay
 * put while the others find their places; then they are let go for `settle` gentle steps (heat `settleAlpha`), in
 * which only overlaps and stretched links move them. Returns (when done) the new `[{x, y}]`. Deterministic.
 */
export function* relaxSteps(g, start, r, { targets, anchors = null, alpha = 1, ticks = TICKS.fresh, settle = 0, settleAlpha = 0.05, aspect = 1 } = {}) {
  const n = g.nodes.length;
  if (!n) return [];
  const nodes = start.map((p, i) => ({ index: i, x: p.x, y: p.y, vx: 0, vy: 0, r: r[i] }));
  const many = n > 800;
  const links = g.links.map((l) => ({ source: l.s, target: l.t, jaccard: l.jaccard }));
  const groups = components(n, g.links).filter((c) => c.length > 1);
  const goal = (i) => (anchors && anchors[i]) || targets[i];
  const pull = (d) => (anchors && anchors[d.index] ? ANCHOR_PULL : many ? CENTRE_PULL / 2 : CENTRE_PULL);
  // The pull towards the centre is weaker along the pane's long side: the layout takes the shape of its pane.
  const pullX = (d) => (anchors && anchors[d.index] ? ANCHOR_PULL : pull(d) / aspect);
  const pullY = (d) => (anchors && anchors[d.index] ? ANCHOR_PULL : pull(d) * aspect);
  const sim = forceSimulation(nodes)
    .stop()
    .randomSource(lcg())
    .alpha(alpha)
    .alphaMin(ALPHA_MIN)
    .alphaDecay(1 - (ALPHA_MIN / alpha) ** (1 / ticks))
    .velocityDecay(0.45)
    .force(
      "link",
      forceLink(links)
        .distance((l) => l.source.r + l.target.r + 6 + 20 * (1 - l.jaccard))
        .iterations(1),
    )
    // A large graph goes without charge (more than half of each step's cost): it starts from its radial trees or
    // from the epoch before, and links and collisions keep it apart.
    .force("charge", many ? null : perGroup(groups, () => forceManyBody().strength(-30).theta(0.95).distanceMax(400)))
    .force("collide", forceCollide((d) => d.r + 1).iterations(1))
    .force("x", forceX((d) => goal(d.index).x).strength(pullX))
    .force("y", forceY((d) => goal(d.index).y).strength(pullY));
  const pinned = settle && anchors;
  if (pinned) for (const d of nodes) if (anchors[d.index]) Object.assign(d, { fx: anchors[d.index].x, fy: anchors[d.index].y });
  for (let k = 0; k < ticks; k++) {
    sim.tick();
    yield;
  }
  if (pinned) {
    for (const d of nodes) Object.assign(d, { fx: null, fy: null, vx: 0, vy: 0 });
    sim.alpha(settleAlpha).alphaDecay(1 - (ALPHA_MIN / settleAlpha) ** (1 / settle));
    for (let k = 0; k < settle; k++) {
      sim.tick();
      yield;
    }
  }
  return nodes.map((d) => ({ x: d.x, y: d.y }));
}

/** Runs steps (a generator such as relaxSteps) to their end; returns what they return. */
export function runSteps(steps) {
  for (;;) {
    const { done, value } = steps.next();
    if (done) return value;
  }
}

/** relaxSteps run to its end at once. */
export function relax(g, start, r, options = {}) {
  return runSteps(relaxSteps(g, start, r, options));
}

/** The steps of a fresh layout of `g`: components packed apart (see packComponents) into about `aspect`, relaxed. */
export function freshSteps(g, r, aspect = 1) {
  const { positions, centres } = packComponents(g.nodes.length, g.links, r, { aspect });
  return relaxSteps(g, positions, r, { targets: centres, alpha: 1, ticks: ticksFor("fresh", g.nodes.length), aspect });
}

/** A fresh layout of `g`, at once. */
export function freshLayout(g, r, aspect = 1) {
  return runSteps(freshSteps(g, r, aspect));
}
