// Graphs as the views use them: the route's payload prepared (indices, adjacency, dominant classes), which
// nodes hold which samples, and the matching of nodes between two graphs over the same probe (member overlap)
// that places a node where its predecessors were. Nothing in here touches the DOM.

// ------------------------------------------------------------------------------------------------ graph prep
const prepared = new WeakMap();
const derived = new WeakMap();

/** Freezes a parsed payload (objects and arrays, recursively), so that no view can change a cached response. */
export function deepFreeze(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The graph the views use, built from the route's payload without changing it: nodes carry their index,
 * dominant class and labelled count; the graph has an index by id, links by node index and adjacency lists.
 * Memoized per payload, so every caller of a cached response gets the same object.
 */
export function prepareGraph(raw) {
  const known = prepared.get(raw);
  if (known) return known;
  deepFreeze(raw);
  const index = new Map();
  const nodes = raw.nodes.map((n, i) => {
    index.set(n.id, i);
    let dominant = -1;
    let labelled = 0;
    if (Array.isArray(n.classes) && n.classes.length) {
      let best = 0;
      n.classes.forEach((c, k) => {
        labelled += c;
        if (c > n.classes[best]) best = k;
      });
      dominant = labelled > 0 ? best : -1;
    }
    return { ...n, index: i, dominant, labelled };
  });
  const links = [];
  const neighbours = nodes.map(() => []);
  for (const e of raw.edges) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined) continue;
    links.push({ s, t, jaccard: e.jaccard ?? 0, intersection: e.intersection });
    neighbours[s].push(t);
    neighbours[t].push(s);
  }
  const g = { ...raw, nodes, index, links, neighbours, class_names: raw.class_names || [] };
  prepared.set(raw, g);
  return g;
}

/** A value computed once per graph and kept beside it (never on it). */
function memo(g, key, compute) {
  let slot = derived.get(g);
  if (!slot) derived.set(g, (slot = {}));
  if (!(key in slot)) slot[key] = compute();
  return slot[key];
}

/**
 * Which nodes contain each sample, as compressed rows (computed once per graph): the nodes of sample `s` are
 * `nodes[offsets[s]]` to `nodes[offsets[s + 1] - 1]`. Typed arrays keep a 2,000-node lookup in the milliseconds.
 */
export function sampleIndex(g) {
  return memo(g, "sampleIndex", () => {
    let nSamples = g.n_samples || 0;
    for (const n of g.nodes) for (const s of n.members) if (s >= nSamples) nSamples = s + 1;
    const offsets = new Int32Array(nSamples + 1);
    for (const n of g.nodes) for (const s of n.members) offsets[s + 1]++;
    for (let s = 0; s < nSamples; s++) offsets[s + 1] += offsets[s];
    const fill = offsets.slice(0, nSamples);
    const nodes = new Int32Array(offsets[nSamples]);
    g.nodes.forEach((n, i) => {
      for (const s of n.members) nodes[fill[s]++] = i;
    });
    return { offsets, nodes, nSamples };
  });
}

/** For every sample id, the indices of the nodes that contain it (a Map; for occasional lookups). */
export function sampleNodes(g) {
  return memo(g, "sampleNodes", () => {
    const { offsets, nodes, nSamples } = sampleIndex(g);
    const map = new Map();
    for (let s = 0; s < nSamples; s++) {
      if (offsets[s + 1] > offsets[s]) map.set(s, Array.from(nodes.subarray(offsets[s], offsets[s + 1])));
    }
    return map;
  });
}

/** Indices of the nodes of `g` that contain at least one of `samples`. */
export function nodesContaining(g, samples) {
  const map = sampleNodes(g);
  const out = new Set();
  for (const s of samples) for (const i of map.get(s) || []) out.add(i);
  return out;
}

// ------------------------------------------------------------------------------------------------- matching
/**
 * Member overlap between the nodes of two graphs over the same samples.
 * Returns, for each node of `next`, a list of [prevIndex, intersection, jaccard], largest overlap first.
 * Cost is linear in the total number of memberships, so a 2,000-node pair is a few milliseconds.
 */
export function overlaps(prev, next) {
  const { offsets, nodes, nSamples } = sampleIndex(prev);
  const counts = new Int32Array(prev.nodes.length);
  const touched = [];
  return next.nodes.map((n) => {
    for (const s of n.members) {
      if (s >= nSamples) continue;
      for (let j = offsets[s]; j < offsets[s + 1]; j++) {
        const p = nodes[j];
        if (counts[p]++ === 0) touched.push(p);
      }
    }
    const list = [];
    for (const p of touched) {
      const inter = counts[p];
      list.push([p, inter, inter / (prev.nodes[p].members.length + n.members.length - inter)]);
      counts[p] = 0;
    }
    touched.length = 0;
    list.sort((a, b) => b[1] - a[1]);
    return list;
  });
}

/**
 * Starting positions for `next`, given where the nodes of `prev` sit now.
 *
 * A node starts where the predecessor it mostly is (Jaccard at least 1/2) was, else at the overlap-weighted mean
 * of its predecessors' positions (a split's parts start on their parent, a merge starts between its parts); a node with no predecessor starts beside its placed neighbours, or
 * at the edge of the layout. Parts that would coincide are nudged apart deterministically so the relaxation can
 * separate them. Returns an array of {x, y, matched, kept}: `kept` when the node is mostly one predecessor.
 */
export function seedPositions(prev, prevPos, next) {
  const n = next.nodes.length;
  const out = new Array(n);
  let cx = 0;
  let cy = 0;
  let spread = 50;
  if (prev && prevPos && prevPos.length) {
    for (const p of prevPos) {
      cx += p.x;
      cy += p.y;
    }
    cx /= prevPos.length;
    cy /= prevPos.length;
    for (const p of prevPos) spread = Math.max(spread, Math.hypot(p.x - cx, p.y - cy));
    const ov = overlaps(prev, next);
    const used = new Map();
    for (let i = 0; i < n; i++) {
      const list = ov[i];
      if (!list.length) continue;
      let w = 0;
      let x = 0;
      let y = 0;
      // A node that is mostly one predecessor (Jaccard at least 1/2) starts exactly there; others between theirs.
      const main = list.reduce((a, b) => (b[2] > a[2] ? b : a));
      for (const [p, inter] of main[2] >= 0.5 ? [main] : list) {
        x += prevPos[p].x * inter;
        y += prevPos[p].y * inter;
        w += inter;
      }
      x /= w;
      y /= w;
      const key = list[0][0];
      const k = used.get(key) || 0;
      used.set(key, k + 1);
      if (k) {
        const a = k * 2.399963; // golden angle: successive parts fan out without overlapping
        x += Math.cos(a) * 6 * Math.sqrt(k);
        y += Math.sin(a) * 6 * Math.sqrt(k);
      }
      out[i] = { x, y, matched: true, kept: main[2] >= 0.5 };
    }
  }
  // Births: beside placed neighbours, repeated so chains of new nodes grow from the matched part.
  let pending = [];
  for (let i = 0; i < n; i++) if (!out[i]) pending.push(i);
  for (let round = 0; round < 4 && pending.length; round++) {
    const still = [];
    for (const i of pending) {
      const placed = next.neighbours[i].filter((j) => out[j]);
      if (!placed.length) {
        still.push(i);
        continue;
      }
      let x = 0;
      let y = 0;
      for (const j of placed) {
        x += out[j].x;
        y += out[j].y;
      }
      const a = hashAngle(i);
      out[i] = { x: x / placed.length + Math.cos(a) * 12, y: y / placed.length + Math.sin(a) * 12, matched: false };
    }
    pending = still;
  }
  // Isolated newcomers: a phyllotaxis ring around what is already there (or the whole layout on first load).
  const hasAny = out.some(Boolean);
  pending.forEach((i, k) => {
    const r = hasAny ? spread + 20 + 4 * Math.sqrt(k) : 10 * Math.sqrt(0.5 + k);
    const a = k * 2.399963;
    out[i] = { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a), matched: false };
  });
  return out;
}

function hashAngle(i) {
  return ((Math.imul(i + 1, 2654435761) >>> 0) / 4294967296) * 2 * Math.PI;
}

/** The node of `next` that took the largest share of node `i`'s members in `prev` (its id), or null. */
export function successor(prev, next, i) {
  const ov = overlaps(next, prev)[i];
  return ov && ov.length ? next.nodes[ov[0][0]].id : null;
}

/** True when two graph payloads have the same nodes (by members) and edges. */
export function sameGraph(a, b) {
  if (a === b) return true;
  if (!a || !b || a.nodes.length !== b.nodes.length || a.edges.length !== b.edges.length) return false;
  for (let i = 0; i < a.nodes.length; i++) {
    const x = a.nodes[i].members;
    const y = b.nodes[i].members;
    if (a.nodes[i].id !== b.nodes[i].id || x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return a.edges.every((e, i) => e.source === b.edges[i].source && e.target === b.edges[i].target);
}

/**
 * Indices of the nodes of `to` holding any sample of node `index` of `from`: the probe samples are the same in
 * every layer's graph, so this follows a node's samples into another layer.
 */
export function linkedNodes(from, index, to) {
  const node = from && from.nodes[index];
  return node ? nodesContaining(to, node.members) : new Set();
}

/** A graph with nothing in it (a view with nothing to show). */
export const EMPTY_GRAPH = prepareGraph({ nodes: [], edges: [], class_names: [], n_samples: 0 });
