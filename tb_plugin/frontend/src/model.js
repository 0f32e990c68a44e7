// Data side of the plugin: fetching and caching the routes, the view state (and its URL form), and the matching
// of nodes between two graphs that keeps the layout stable from one epoch to the next.
// Nothing in here touches the DOM.

import { PARAM_KEYS, validParam } from "./params.js";

/** A failed request; `message` is the server's own explanation (the body of a 400/404). */
export class HttpError extends Error {
  constructor(status, message, url) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.url = url;
  }
}

const cache = new Map();

/** `path?params` relative to the plugin's base URL (the iframe's <base> is plugin/topoact/). */
export function routeUrl(path, params) {
  const qs = params ? new URLSearchParams(params).toString() : "";
  return `./${path}${qs ? "?" + qs : ""}`;
}

/** True for the rejection of a request its caller cancelled (a newer one superseded it): not an error to show. */
export function isAbort(e) {
  return Boolean(e) && e.name === "AbortError";
}

function abortError() {
  return new DOMException("superseded", "AbortError");
}

/**
 * `promise`, or an AbortError as soon as `signal` aborts. Cached responses are shared (prefetching, both views),
 * so a caller that gives up stops waiting for the response instead of cancelling it for everyone.
 */
export function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

async function fetchJSON(path, params, { useCache = true, signal } = {}) {
  const url = routeUrl(path, params);
  if (useCache && cache.has(url)) return abortable(cache.get(url), signal);
  const promise = (async () => {
    let response;
    try {
      // Uncached requests belong to one caller, whose signal cancels the request itself.
      response = await fetch(url, { credentials: "same-origin", signal: useCache ? undefined : signal });
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new HttpError(0, `Could not reach TensorBoard (${e.message})`, url);
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).trim();
      throw new HttpError(response.status, text.slice(0, 500) || `HTTP ${response.status}`, url);
    }
    // Shared by every caller (and by prefetching): frozen, so that no view can change what another reads.
    return deepFreeze(await response.json());
  })();
  if (useCache) {
    cache.set(url, promise);
    promise.catch(() => cache.delete(url));
  }
  return abortable(promise, signal);
}

/** Resolves when every request made so far has finished (for tests and benchmarks). */
export function settled() {
  return Promise.allSettled([...cache.values()]).then(() => true);
}

/** Forget every cached response (TensorBoard's Reload, or the refresh button). */
export function clearCache() {
  cache.clear();
}

/**
 * The plugin's routes. Each takes an optional AbortSignal: a superseded caller stops waiting. `graph`, `compare`,
 * `metrics` and `track` take Mapper parameters after it (params.js mapperQuery; `{}`: as logged), which are part of
 * the URL and so of the cache key.
 */
export const api = {
  runs: (signal) => fetchJSON("runs", null, { useCache: false, signal }),
  epochs: (run, layer, signal) => fetchJSON("epochs", { run, layer }, { signal }),
  graph: (run, layer, epoch, signal, params = {}) =>
    fetchJSON("graph", { run, layer, epoch: String(epoch), ...params }, { signal }).then(prepareGraph),
  compare: (a, b, signal, params = {}) =>
    fetchJSON(
      "compare",
      {
        run: a.run, layer: a.layer, epoch: String(a.epoch),
        run2: b.run, layer2: b.layer, epoch2: String(b.epoch),
        ...params,
      },
      { signal },
    ),
  metrics: (run, layer, signal, params = {}) => fetchJSON("metrics", { run, layer, ...params }, { signal }),
  track: (run, layer, samples, signal, params = {}) =>
    fetchJSON("track", { run, layer, samples: samples.join(","), ...params }, { signal }),
  findings: (run, signal) => fetchJSON("findings", { run }, { signal }),
  projection: (run, layer, epoch, method, signal) =>
    fetchJSON("projection", { run, layer, epoch: String(epoch), method }, { signal }),
  thumbnailsInfo: (run) => fetchJSON("thumbnails_info", { run }),
  thumbnailUrl: (run, sample) => routeUrl("thumbnail", { run, sample: String(sample) }),
};

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
 * A node starts at the overlap-weighted mean of its predecessors' positions (a split's parts start on their
 * parent, a merge starts between its parts); a node with no predecessor starts beside its placed neighbours, or
 * at the edge of the layout. Parts that would coincide are nudged apart deterministically so the relaxation can
 * separate them. Returns an array of {x, y, matched}.
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
      for (const [p, inter] of list) {
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
      out[i] = { x, y, matched: true };
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

// -------------------------------------------------------------------------------------------------- state
/** Defaults of the view state; the URL keeps only what differs from them. */
export const DEFAULTS = Object.freeze({
  run: "",
  layer: "",
  epoch: null,
  color: "classes",
  size: "sqrt",
  thr: 0,
  node: null,
  track: [],
  cls: null,
  q: "",
  cmp: false,
  run2: "",
  layer2: "",
  epoch2: null,
  metric: "",
  lay: false,
  lays: "",
  // Mapper parameters of the parameter card (params.js), as the routes' query values; "" = as logged.
  intervals: "",
  overlap: "",
  eps: "",
  min_samples: "",
  lens: "",
  proj: false,
  projm: "pca",
});

/**
 * Defaults of the view state's keys the URL never holds: the projection's selection (`psel`, sample ids; it can be
 * hundreds of them, and it goes when the panel does).
 */
export const TRANSIENT = Object.freeze({ psel: Object.freeze([]) });

const NUMERIC = new Set(["epoch", "epoch2", "thr", "node", "cls"]);

/** A small observable store of the view state. */
export class Store {
  constructor(initial) {
    this.state = { ...TRANSIENT, ...DEFAULTS, ...(initial || {}) };
    this.listeners = new Set();
  }
  get() {
    return this.state;
  }
  set(patch) {
    const before = this.state;
    this.state = { ...before, ...patch };
    const changed = Object.keys(patch).filter((k) => !sameValue(before[k], this.state[k]));
    if (changed.length) for (const fn of this.listeners) fn(this.state, new Set(changed), before);
  }
  /**
   * Corrects the state without notifying: for values the controller derives while it is already acting on a
   * change (a run's default layer, an epoch snapped to the logged ones), which must not trigger that work again.
   */
  amend(patch) {
    this.state = { ...this.state, ...patch };
  }
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

function sameValue(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}

/** The state as `key=value` pairs (only the non-default ones), for the URL. */
export function encodeState(state) {
  const out = {};
  for (const [k, def] of Object.entries(DEFAULTS)) {
    const v = state[k];
    if (sameValue(v, def) || v === undefined) continue;
    if (Array.isArray(v)) out[k] = v.join(",");
    else if (typeof v === "boolean") out[k] = v ? "1" : "0";
    else out[k] = String(v);
  }
  return out;
}

/** Inverse of encodeState; unknown keys and malformed values are ignored. */
export function decodeState(pairs) {
  const out = {};
  for (const [k, raw] of Object.entries(pairs || {})) {
    if (!(k in DEFAULTS) || typeof raw !== "string") continue;
    if (k === "track") {
      out.track = raw.split(",").map((s) => parseInt(s, 10)).filter((v) => Number.isInteger(v) && v >= 0);
    } else if (k === "cmp" || k === "lay" || k === "proj") {
      out[k] = raw === "1" || raw === "true";
    } else if (k in PARAM_KEYS) {
      const v = validParam(k, raw);
      if (v !== null) out[k] = v;
    } else if (NUMERIC.has(k)) {
      const v = Number(raw);
      if (raw !== "" && Number.isFinite(v)) out[k] = v;
    } else {
      out[k] = raw;
    }
  }
  return out;
}

/** Parses the iframe's own `#k=v&...` hash. */
export function readOwnHash(hash) {
  const params = new URLSearchParams((hash || "").replace(/^#/, ""));
  return Object.fromEntries(params.entries());
}

/** Snap `epoch` to the nearest logged one (the URL may name one that is not, or no longer, there). */
export function snapEpoch(epochs, epoch) {
  if (!epochs.length) return null;
  if (epoch === null || epoch === undefined || !Number.isFinite(epoch)) return epochs[epochs.length - 1];
  let best = epochs[0];
  for (const e of epochs) if (Math.abs(e - epoch) < Math.abs(best - epoch)) best = e;
  return best;
}

/**
 * The node indices of `g` the view's filters keep in focus (the rest is faded), or null when none is set: the
 * class filter (`cls`: nodes holding that class), the search (`q`) and the projection's selection (`psel`: nodes
 * holding a selected sample). Several at once: the nodes all of them keep.
 */
export function focusSet(g, state) {
  let set = null;
  const intersect = (s) => {
    if (set === null) set = s;
    else set = new Set([...set].filter((i) => s.has(i)));
  };
  if (state.cls !== null && state.cls !== undefined) {
    const k = state.cls;
    intersect(new Set(g.nodes.filter((n) => Array.isArray(n.classes) && n.classes[k] > 0).map((n) => n.index)));
  }
  const q = (state.q || "").trim();
  if (q) intersect(searchNodes(g, q));
  if (state.psel.length) intersect(nodesContaining(g, state.psel));
  return set;
}

/** What the search box means by its text; also documented in its tooltip and the README. */
export const SEARCH_HELP =
  "#5: node 5 · 12 or s12: the nodes holding sample 12 · class:7 (or c:7): class named 7 (for numeric names) · " +
  "any other text: classes whose name contains it. Enter on sample ids (12, 40) tracks them across epochs.";

/**
 * Parses a search: `#12` is node 12; `12` or `s12` is sample 12; `class:7` or `c:7` is the class named "7" (exact,
 * case-insensitive; the only way to reach a class whose name is a number); other text is part of a class name.
 * Returns `{kind: "node", id}`, `{kind: "sample", id}`, `{kind: "class", name, exact}` or null for an empty query.
 */
export function parseSearch(q) {
  q = String(q ?? "").trim();
  if (!q) return null;
  let m = /^#(\d+)$/.exec(q);
  if (m) return { kind: "node", id: Number(m[1]) };
  m = /^s?(\d+)$/i.exec(q);
  if (m) return { kind: "sample", id: Number(m[1]) };
  m = /^(?:class|c):\s*(.+)$/i.exec(q);
  if (m) return { kind: "class", name: m[1].trim(), exact: true };
  return { kind: "class", name: q, exact: false };
}

/** Sample ids of a list such as "12, 40 s7" (for tracking), or null when any token is not a sample id. */
export function parseSampleList(text) {
  const tokens = String(text ?? "").split(/[\s,]+/).filter(Boolean);
  if (!tokens.length || !tokens.every((t) => /^s?\d+$/i.test(t))) return null;
  return [...new Set(tokens.map((t) => parseInt(t.replace(/^s/i, ""), 10)))];
}

/** Class indices whose name matches a parsed class query. */
export function matchClasses(classNames, name, exact) {
  const needle = name.toLowerCase();
  const out = new Set();
  classNames.forEach((c, k) => {
    const have = String(c).toLowerCase();
    if (exact ? have === needle : have.includes(needle)) out.add(k);
  });
  return out;
}

/** Nodes matching a search (see parseSearch); a class matches the nodes whose dominant class it is. */
export function searchNodes(g, q) {
  const parsed = parseSearch(q);
  if (!parsed) return new Set();
  if (parsed.kind === "node") {
    const i = g.index.get(parsed.id);
    return new Set(i === undefined ? [] : [i]);
  }
  if (parsed.kind === "sample") return nodesContaining(g, [parsed.id]);
  const classes = matchClasses(g.class_names, parsed.name, parsed.exact);
  return new Set(g.nodes.filter((n) => classes.has(n.dominant)).map((n) => n.index));
}

// ------------------------------------------------------------------------------------------------- layout
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

// ------------------------------------------------------------------------------------------------ framing
/** The box holding every disc `{x, y, r}`, or null when there are none. */
export function bounds(discs) {
  if (!discs.length) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const d of discs) {
    x0 = Math.min(x0, d.x - d.r);
    y0 = Math.min(y0, d.y - d.r);
    x1 = Math.max(x1, d.x + d.r);
    y1 = Math.max(y1, d.y + d.r);
  }
  return { x0, y0, x1, y1 };
}

/**
 * The zoom `{k, x, y}` (screen = graph * k + (x, y)) that centres `box` in a `width` x `height` view, using
 * `fill` of it, never magnifying beyond `maxScale` (a two-node graph should not fill the screen). `inset` keeps
 * a band at the top free (the caption).
 */
export function fitTransform(box, width, height, { fill = 0.92, maxScale = 4, inset = 0 } = {}) {
  if (!box) return { k: 1, x: width / 2, y: height / 2 };
  const h = Math.max(1, height - inset);
  const k = Math.min(maxScale, fill * Math.min(width / (box.x1 - box.x0 || 1), h / (box.y1 - box.y0 || 1)));
  return {
    k,
    x: width / 2 - k * ((box.x0 + box.x1) / 2),
    y: inset + h / 2 - k * ((box.y0 + box.y1) / 2),
  };
}

/** How many node centres a zoom puts outside a `width` x `height` view, and on which sides. */
export function offscreen(points, t, width, height) {
  const out = { count: 0, left: 0, right: 0, top: 0, bottom: 0 };
  for (const p of points) {
    const x = p.x * t.k + t.x;
    const y = p.y * t.k + t.y;
    const sides = [x < 0 && "left", x > width && "right", y < 0 && "top", y > height && "bottom"].filter(Boolean);
    if (!sides.length) continue;
    out.count++;
    for (const side of sides) out[side]++;
  }
  return out;
}

// ----------------------------------------------------------------------------------------------- metrics
/**
 * The metrics route's names, in the order the chart lists them, with what each means (as in the README).
 * `kind` bounds the chart: "fraction" in [0, 1], "count" non-negative integers, "real" anything.
 */
export const METRICS = Object.freeze({
  nodes: { kind: "count", title: "nodes in the graph" },
  edges: { kind: "count", title: "edges in the graph" },
  components: { kind: "count", title: "connected components" },
  loops: { kind: "count", title: "independent cycles (edges - nodes + components)" },
  purity: { kind: "fraction", title: "size-weighted mean of 1 - H/log K over nodes (1: every node holds one class)" },
  coverage: { kind: "fraction", title: "share of probe samples in some node" },
  largest_node_share: { kind: "fraction", title: "share of samples in the largest node (near 1: collapse)" },
  unassigned: { kind: "fraction", title: "share of samples in no node" },
  dead_units: { kind: "fraction", title: "share of units constant over the whole probe (near 1: a dead layer)" },
  effective_rank: { kind: "fraction", title: "effective rank of the activations (near 0: collapse)" },
  distance: { kind: "fraction", title: "distance to the previous logged graph of the layer" },
  accuracy: { kind: "fraction", title: "share of probe samples classified correctly" },
  mean_loss: { kind: "real", title: "mean loss over the probe" },
});

/** The chart's metric list: the known ones in README order, then any others the route sends (`mean_<x>`...). */
export function metricOrder(names) {
  const known = Object.keys(METRICS).filter((k) => names.includes(k));
  return [...known, ...names.filter((k) => !(k in METRICS) && k !== "mean_prediction").sort()];
}

/** Round tick step (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`. */
export function tickStep(span, count = 4) {
  const raw = Math.abs(span) / Math.max(1, count) || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  const e = 1e-9; // 0.2 / 4 is 0.05000000000000002 in floating point: still a step of 0.05
  return mag * (r <= 1 + e ? 1 : r <= 2 + e ? 2 : r <= 5 + e ? 5 : 10);
}

/**
 * The y range and ticks of a metric's chart: the data's range widened to round ticks, a constant series given a
 * band around its value, and never past what the metric can take (a share stays in [0, 1], a count at or above
 * 0 with whole-number ticks). Returns `{lo, hi, ticks}`.
 */
export function chartDomain(values, kind = "real") {
  const vals = values.filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  let lo = vals.length ? Math.min(...vals) : 0;
  let hi = vals.length ? Math.max(...vals) : 1;
  if (lo === hi) {
    const pad = kind === "fraction" ? 0.1 : kind === "count" ? Math.max(1, Math.abs(lo) * 0.1) : Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const floor = kind === "fraction" || kind === "count" ? 0 : -Infinity;
  const ceil = kind === "fraction" ? 1 : Infinity;
  let step = tickStep(hi - lo, 4);
  if (kind === "count") step = Math.max(1, Math.round(step));
  lo = Math.max(floor, Math.floor(lo / step + 1e-9) * step);
  hi = Math.min(ceil, Math.ceil(hi / step - 1e-9) * step);
  if (hi <= lo) hi = lo + step;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return { lo, hi, ticks };
}

// ------------------------------------------------------------------------------------------------ compare
/** B's default epoch: the logged epoch before A's (forward in time to A), or the next one when A is the first. */
export function defaultEpoch2(epochs, epoch) {
  const i = epochs.indexOf(epoch);
  if (i > 0) return epochs[i - 1];
  if (i === 0 && epochs.length > 1) return epochs[1];
  return epochs.length ? epochs[epochs.length - 1] : null;
}

/**
 * The order in which to ask the compare route about views A and B: earlier epoch first, so that splits and merges
 * read forward in time (A first when the epochs are equal). Returns `{first, second, flipped}`; flipped means B
 * comes first, i.e. the route's "a" side is view B.
 */
export function compareOrder(a, b) {
  const flipped = b.epoch < a.epoch;
  return flipped ? { first: b, second: a, flipped } : { first: a, second: b, flipped };
}

/** The health warnings of a metrics payload, as `[epoch, text]` sorted by epoch. */
export function problemList(metrics) {
  const p = (metrics && metrics.problems) || {};
  return Object.entries(p)
    .map(([e, text]) => [Number(e), String(text)])
    .filter(([e]) => Number.isFinite(e))
    .sort((x, y) => x[0] - y[0]);
}

/**
 * The layers the multi-layer view shows, in watch order (input side first): the user's choice `chosen` (comma
 * separated names) when it names at least two of `layers` and includes `current`, else `current` and its
 * neighbours (three consecutive layers, as TopoAct shows them, or all of them when there are fewer).
 */
export function shownLayers(layers, current, chosen = "") {
  const picked = new Set(String(chosen || "").split(",").filter((l) => layers.includes(l)));
  if (picked.size >= 2 && picked.has(current)) return layers.filter((l) => picked.has(l));
  const i = layers.indexOf(current);
  if (i < 0) return layers.slice(-3);
  const start = Math.max(0, Math.min(i - 1, layers.length - 3));
  return layers.slice(start, start + 3);
}

/**
 * Indices of the nodes of `to` holding any sample of node `index` of `from`: the probe samples are the same in
 * every layer's graph, so this follows a node's samples into another layer.
 */
export function linkedNodes(from, index, to) {
  const node = from && from.nodes[index];
  return node ? nodesContaining(to, node.members) : new Set();
}
