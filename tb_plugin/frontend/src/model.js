// Data side of the plugin: fetching and caching the routes, the view state (and its URL form), and the matching
// of nodes between two graphs that keeps the layout stable from one epoch to the next.
// Nothing in here touches the DOM.

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

async function fetchJSON(path, params, { useCache = true } = {}) {
  const url = routeUrl(path, params);
  if (useCache && cache.has(url)) return cache.get(url);
  const promise = (async () => {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin" });
    } catch (e) {
      throw new HttpError(0, `Could not reach TensorBoard (${e.message})`, url);
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).trim();
      throw new HttpError(response.status, text.slice(0, 500) || `HTTP ${response.status}`, url);
    }
    return response.json();
  })();
  if (useCache) {
    cache.set(url, promise);
    promise.catch(() => cache.delete(url));
  }
  return promise;
}

/** Resolves when every request made so far has finished (for tests and benchmarks). */
export function settled() {
  return Promise.allSettled([...cache.values()]).then(() => true);
}

/** Forget every cached response (TensorBoard's Reload, or the refresh button). */
export function clearCache() {
  cache.clear();
}

export const api = {
  runs: () => fetchJSON("runs", null, { useCache: false }),
  epochs: (run, layer) => fetchJSON("epochs", { run, layer }),
  graph: (run, layer, epoch) =>
    fetchJSON("graph", { run, layer, epoch: String(epoch) }).then((g) => prepareGraph(g)),
  compare: (a, b) =>
    fetchJSON("compare", {
      run: a.run, layer: a.layer, epoch: String(a.epoch),
      run2: b.run, layer2: b.layer, epoch2: String(b.epoch),
    }),
  metrics: (run, layer) => fetchJSON("metrics", { run, layer }),
  track: (run, layer, samples) => fetchJSON("track", { run, layer, samples: samples.join(",") }),
  thumbnailsInfo: (run) => fetchJSON("thumbnails_info", { run }),
  thumbnailUrl: (run, sample) => routeUrl("thumbnail", { run, sample: String(sample) }),
};

// ------------------------------------------------------------------------------------------------ graph prep
const prepared = new WeakMap();

/**
 * Adds what the views need and the server does not send: node index by id, dominant class, adjacency, and
 * (lazily) which nodes hold each sample. Idempotent: the cached promise resolves to the same object.
 */
export function prepareGraph(g) {
  if (prepared.has(g)) return g;
  const index = new Map();
  g.nodes.forEach((n, i) => {
    index.set(n.id, i);
    n.index = i;
    if (Array.isArray(n.classes) && n.classes.length) {
      let best = 0;
      let total = 0;
      n.classes.forEach((c, k) => {
        total += c;
        if (c > n.classes[best]) best = k;
      });
      n.dominant = total > 0 ? best : -1;
      n.labelled = total;
    } else {
      n.dominant = -1;
      n.labelled = 0;
    }
  });
  g.index = index;
  g.links = [];
  g.neighbours = g.nodes.map(() => []);
  for (const e of g.edges) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined) continue;
    g.links.push({ s, t, jaccard: e.jaccard ?? 0, intersection: e.intersection });
    g.neighbours[s].push(t);
    g.neighbours[t].push(s);
  }
  g.class_names = g.class_names || [];
  prepared.set(g, true);
  return g;
}

/**
 * Which nodes contain each sample, as compressed rows (computed once per graph): the nodes of sample `s` are
 * `nodes[offsets[s]]` to `nodes[offsets[s + 1] - 1]`. Typed arrays keep a 2,000-node lookup in the milliseconds.
 */
export function sampleIndex(g) {
  if (g._sampleIndex) return g._sampleIndex;
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
  g._sampleIndex = { offsets, nodes, nSamples };
  return g._sampleIndex;
}

/** For every sample id, the indices of the nodes that contain it (a Map; for occasional lookups). */
export function sampleNodes(g) {
  if (g._sampleNodes) return g._sampleNodes;
  const { offsets, nodes, nSamples } = sampleIndex(g);
  const map = new Map();
  for (let s = 0; s < nSamples; s++) {
    if (offsets[s + 1] > offsets[s]) map.set(s, Array.from(nodes.subarray(offsets[s], offsets[s + 1])));
  }
  g._sampleNodes = map;
  return map;
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
});

const NUMERIC = new Set(["epoch", "epoch2", "thr", "node", "cls"]);

/** A small observable store of the view state. */
export class Store {
  constructor(initial) {
    this.state = { ...DEFAULTS, ...(initial || {}) };
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
    } else if (k === "cmp") {
      out.cmp = raw === "1" || raw === "true";
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

/** Class index -> node indices whose labelled members include that class; and other filters of the view. */
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
  return set;
}

/**
 * Nodes matching a search: `#12` is node 12, a bare number or `s12` is sample 12 (the nodes that hold it),
 * anything else is a case-insensitive substring of a class name (nodes whose dominant class matches).
 */
export function searchNodes(g, q) {
  q = q.trim();
  let m = /^#(\d+)$/.exec(q);
  if (m) {
    const i = g.index.get(Number(m[1]));
    return new Set(i === undefined ? [] : [i]);
  }
  m = /^s?(\d+)$/i.exec(q);
  if (m) return nodesContaining(g, [Number(m[1])]);
  const needle = q.toLowerCase();
  const classes = new Set();
  g.class_names.forEach((c, k) => {
    if (String(c).toLowerCase().includes(needle)) classes.add(k);
  });
  return new Set(g.nodes.filter((n) => classes.has(n.dominant)).map((n) => n.index));
}
