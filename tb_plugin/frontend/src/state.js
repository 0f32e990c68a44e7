// The tab's one state and its one write path. `Store.set(patch)` is the only way anything changes it: the user's
// view (what the URL keeps), transient choices, and every piece of data the views draw (runs, epochs, graphs,
// layouts, metrics, comparisons, progress), written by the loaders when their requests come back. `transition`
// derives what follows from a patch (a run's default layer, an epoch snapped to the logged ones, the selection
// following its members), so no caller has to correct the state afterwards. Nothing in here touches the DOM.

import { successor } from "./graph.js";
import { PARAM_KEYS, validParam } from "./params.js";

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
  dist: "",
  proj: false,
  projm: "pca",
});

/**
 * The user's choices the URL does not keep: the projection's selection (`psel`, sample ids: it can be hundreds),
 * the findings panel's kind filter (`fkinds`) and its active finding (`factive`: its index in `findings.list`), the
 * node clicked in one of layers mode's other panels (`lpin`: `{layer, id}`), and whether the epochs are playing.
 */
export const TRANSIENT = Object.freeze({ psel: Object.freeze([]), fkinds: Object.freeze([]), factive: null, lpin: null, playing: false });

/**
 * What the loaders write: the server's parameter rules (`spec`, or why there are none: `specError`), the runs,
 * the shown layer's epochs and the run's layers' health, the findings, view A's graph (`graph`, fetched with route
 * query `query`) and its layout (`layoutA`: `{epoch, positions, box}`), the chart's metrics, the re-mapping's
 * refusal (`remapError`), compare mode's other side (`compare`), layers mode's other panels (`layers`), the
 * projection (`projection`), the tracked samples' table (`trackData`), the page's status line (`status`), work
 * in progress (`tasks`: name -> `{label, started, done, total}`), the size of the graphs' area (`main`) and how
 * often the data were reloaded (`reloads`: what every loader asks for again when it grows).
 */
export const DATA = Object.freeze({
  spec: null,
  specError: null,
  runs: Object.freeze([]),
  epochs: Object.freeze([]),
  health: Object.freeze({}),
  findings: null,
  graph: null,
  query: Object.freeze({}),
  layoutA: null,
  metrics: null,
  remapError: null,
  compare: null,
  layers: null,
  projection: null,
  trackData: null,
  status: null,
  tasks: Object.freeze({}),
  main: Object.freeze({ width: 0, height: 0 }),
  reloads: 0,
});

const NUMERIC = new Set(["epoch", "epoch2", "thr", "node", "cls"]);

/** The run entry of the runs route for `run` (a stand-in without layers when it is not listed). */
export function runInfo(state, run) {
  return state.runs.find((r) => r.run === run) || { run, layers: [], thumbnails: false };
}

/** Snap `epoch` to the nearest logged one (the URL may name one that is not, or no longer, there). */
export function snapEpoch(epochs, epoch) {
  if (!epochs.length) return null;
  if (epoch === null || epoch === undefined || !Number.isFinite(epoch)) return epochs[epochs.length - 1];
  let best = epochs[0];
  for (const e of epochs) if (Math.abs(e - epoch) < Math.abs(best - epoch)) best = e;
  return best;
}

const last = (list) => list[list.length - 1];

/**
 * The state after `patch`: the patch, plus what follows from it.
 * - A run without the shown layer shows its last watched layer (nearest the output, the most telling); another run
 *   or layer has no epochs until they are fetched.
 * - New epochs: a view on the latest epoch stays on the latest (training goes on); any epoch snaps to a logged one.
 * - A new graph of the same layer: the selected node follows its members (to the node that took most of them);
 *   a graph without it drops the selection.
 */
export function transition(prev, patch) {
  const next = { ...prev, ...patch };
  if (("run" in patch || "runs" in patch) && next.runs.length) {
    const layers = runInfo(next, next.run).layers;
    if (layers.length && !layers.includes(next.layer)) next.layer = last(layers);
  }
  // Another run or layer: its epochs are not known yet (the ones shown belong to the old one).
  if (("run" in patch || "layer" in patch) && !("epochs" in patch) && (next.run !== prev.run || next.layer !== prev.layer)) {
    next.epochs = [];
  }
  if ("epochs" in patch) {
    const before = prev.epochs;
    const onLatest = before.length && prev.epoch === last(before) && next.epochs.length > before.length;
    if (onLatest && !("epoch" in patch)) next.epoch = last(next.epochs);
  }
  if (("epochs" in patch || "epoch" in patch) && next.epochs.length) next.epoch = snapEpoch(next.epochs, next.epoch);
  if ("graph" in patch && next.graph && next.node !== null && !("node" in patch)) {
    const old = prev.graph;
    const sameLayer = old && old.run === next.graph.run && old.layer === next.graph.layer;
    if (sameLayer && old !== next.graph && old.index.has(next.node)) {
      next.node = successor(old, next.graph, old.index.get(next.node));
    } else if (!next.graph.index.has(next.node)) next.node = null;
  }
  return next;
}

/**
 * A small observable store. `set(patch)` is the only write: it applies `transition` and tells every listener
 * `(state, changedKeys, before)` once. `patch` may be a function of the state it applies to. A write made while
 * listeners are being told waits until they all have been (each listener sees every change in order).
 */
export class Store {
  constructor(initial) {
    this.state = { ...DATA, ...TRANSIENT, ...DEFAULTS, ...(initial || {}) };
    this.listeners = new Set();
    this.queue = [];
    this.notifying = false;
  }
  get() {
    return this.state;
  }
  set(patch) {
    this.queue.push(patch);
    if (this.notifying) return;
    this.notifying = true;
    try {
      while (this.queue.length) {
        const p = this.queue.shift();
        const before = this.state;
        this.state = transition(before, typeof p === "function" ? p(before) : p);
        const changed = Object.keys(this.state).filter((k) => !sameValue(before[k], this.state[k]));
        if (changed.length) for (const fn of this.listeners) fn(this.state, new Set(changed), before);
      }
    } finally {
      this.notifying = false;
      this.queue.length = 0;
    }
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

/**
 * Inverse of encodeState; unknown keys and malformed values are ignored, and so are Mapper parameters the
 * server's `spec` (params.js parseSpec) refuses, or all of them without one.
 */
export function decodeState(pairs, spec = null) {
  const out = {};
  for (const [k, raw] of Object.entries(pairs || {})) {
    if (!(k in DEFAULTS) || typeof raw !== "string") continue;
    if (k === "track") {
      out.track = raw.split(",").map((s) => parseInt(s, 10)).filter((v) => Number.isInteger(v) && v >= 0);
    } else if (k === "cmp" || k === "lay" || k === "proj") {
      out[k] = raw === "1" || raw === "true";
    } else if (k in PARAM_KEYS) {
      const v = validParam(k, raw, spec);
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

/** `tasks` with `name` started (`{label, started}`), or with its progress (`done` of `total`) told. */
export function taskStarted(tasks, name, label, now) {
  return { ...tasks, [name]: { label, started: now, done: 0, total: 0 } };
}

export function taskProgress(tasks, name, done, total) {
  const t = tasks[name];
  return t ? { ...tasks, [name]: { ...t, done, total } } : tasks;
}

/** `tasks` without `name`. */
export function taskDone(tasks, name) {
  if (!(name in tasks)) return tasks;
  const out = { ...tasks };
  delete out[name];
  return out;
}
