// Loading, declaratively: each Loader says what its part of the data should be for a state (`want`), and when that
// differs from what it last asked for, cancels that request and asks again; its answer becomes a patch of the
// store (the one write path). So every view is a function of the state, and however the user moved (a slider, the
// URL, a finding, Reload), the same state fetches and shows the same things.

import { api, isAbort } from "./api.js";
import { chainFor } from "./layoutchain.js";
import { taskDone, taskProgress, taskStarted } from "./state.js";

/** Work shorter than this shows no progress (it would only flash). */
export const QUIET_MS = 300;

export class Loader {
  /**
   * `want(state)`: a JSON-able description of what to load, or null for nothing. `load(want, signal, key)`
   * resolves to a patch. `shown(state)`: the key of what the state already shows (no request when it is the
   * one wanted). `fail(error, want, state)`: the patch for a failure (default: a warning in the console).
   */
  constructor(store, { want, load, shown = null, fail = null }) {
    this.store = store;
    this.want = want;
    this.load = load;
    this.shown = shown;
    this.fail = fail;
    this.key = undefined;
    this.ctl = null;
    this.pending = null;
  }

  sync(state) {
    const w = this.want(state);
    const key = w === null ? null : JSON.stringify(w);
    if (key === this.key) return;
    if (this.ctl) this.ctl.abort();
    this.ctl = null;
    this.key = key;
    if (key === null || (this.shown && this.shown(state) === key)) {
      this.pending = null;
      return;
    }
    const ctl = (this.ctl = new AbortController());
    // Started after the current change has reached every listener: a load never writes in the middle of one.
    this.pending = Promise.resolve()
      .then(() => this.load(w, ctl.signal, key))
      .then(
        (patch) => {
          if (!ctl.signal.aborted && patch) this.store.set(patch);
        },
        (e) => {
          if (ctl.signal.aborted || isAbort(e)) return;
          const patch = this.fail ? this.fail(e, w, this.store.get()) : null;
          if (!patch) console.warn("topoact:", e && e.message ? e.message : e);
          else this.store.set(patch);
        },
      )
      .finally(() => {
        if (this.ctl === ctl) this.ctl = null;
      });
  }

  /** Forget what was asked, so that the next sync asks again (Reload). */
  reset() {
    if (this.ctl) this.ctl.abort();
    this.ctl = null;
    this.key = undefined;
  }
}

/**
 * A piece of work the page reports in `tasks` (state.js): shown after QUIET_MS with its label, elapsed time and
 * progress, gone when it ends (or its loader is superseded: `signal`).
 */
export function startTask(store, name, label, signal = null) {
  const started = performance.now();
  let shown = false;
  let progress = [0, 0];
  const show = () => {
    shown = true;
    store.set((s) => ({ tasks: taskProgress(taskStarted(s.tasks, name, label, started), name, ...progress) }));
  };
  const timer = setTimeout(show, QUIET_MS);
  const end = () => {
    clearTimeout(timer);
    if (shown) store.set((s) => (s.tasks[name] && s.tasks[name].started === started ? { tasks: taskDone(s.tasks, name) } : {}));
    shown = false;
  };
  if (signal) signal.addEventListener("abort", end, { once: true });
  return {
    progress(done, total) {
      progress = [done, total];
      if (shown) store.set((s) => ({ tasks: taskProgress(s.tasks, name, done, total) }));
    },
    end,
  };
}

/**
 * The layouts of `layer` of `run` over all its `epochs`, with route query `query`, node size mode `size`, packed
 * for a pane of aspect `aspect`: every epoch's graph is fetched (a layout follows the epochs before it), then
 * the chain is brought up to date (layoutchain.js), reporting progress as task `task` (with `label`).
 * Resolves to `{chain, key}`.
 */
export async function layerChain(store, { run, layer, epochs, query, size, aspect }, signal, task, label) {
  const key = JSON.stringify([run, layer, query, size, aspect]);
  const chain = chainFor(key, { size, aspect });
  const progress = startTask(store, task, label || `Laying out ${layer} over its epochs`, signal);
  try {
    let fetched = 0;
    const total = 2 * epochs.length;
    const graphs = await Promise.all(
      epochs.map((e) =>
        api.graph(run, layer, e, signal, query).then((g) => {
          progress.progress(++fetched, total);
          return g;
        }),
      ),
    );
    await chain.update(epochs, graphs, { signal, onStep: (done) => progress.progress(epochs.length + done, total) });
    return { chain, key };
  } finally {
    progress.end();
  }
}

/** A status line for a failed request (`source`: which loader's, so that its next success clears it). */
export function errorStatus(err, what, source) {
  const detail = err && err.status !== undefined ? `${err.message}${err.status ? ` (HTTP ${err.status})` : ""}` : String(err && err.message ? err.message : err);
  console.warn(`topoact: could not load ${what}:`, detail);
  return { kind: "error", title: `Could not load ${what}`, detail, source };
}

/** `status` unless it came from one of `sources` (whose loader has just succeeded): then `next`. */
export function replaceStatus(status, sources, next = null) {
  return !status || sources.includes(status.source) ? next : status;
}
