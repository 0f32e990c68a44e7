// A layer's layouts along its epochs: the first logged epoch laid out afresh, each later one seeded from the one
// before it (a node starts where its predecessors were) and relaxed a little with its matched nodes held near
// there. A layout is therefore a function of the run, layer, parameters, epoch and the epochs before it, never of
// the way the user reached it; and the union of a chain's boxes is a frame that holds every epoch.
// Nothing in here touches the DOM (unit-tested by node --test).

import { seedPositions, sameGraph } from "./graph.js";
import { componentCentres, freshSteps, nodeRadii, relaxSteps, runSteps, ticksFor } from "./layout.js";
import { bounds, unionBox } from "./frame.js";

/**
 * The layout of `g` following `prev` (a graph) laid out at `prevPos`: seeded from it (graph.js seedPositions); a
 * node that continues one predecessor (Jaccard at least 1/2) is held at its place while the others find theirs,
 * then all relax a little (relaxing every node freely moved continuing nodes several times as far on the demo).
 * With no `prev`, a fresh layout packed into about `aspect`.
 */
export function layoutAfter(prev, prevPos, g, r, aspect = 1) {
  return runSteps(layoutSteps(prev, prevPos, g, r, aspect));
}

/** layoutAfter, one relaxation step per `next()` (the chain runs them in slices, so the page stays responsive). */
export function layoutSteps(prev, prevPos, g, r, aspect = 1) {
  if (!prev || !prevPos) return freshSteps(g, r, aspect);
  const seeds = seedPositions(prev, prevPos, g);
  const anchors = seeds.map((p) => (p.kept ? p : null));
  const targets = componentCentres(g.nodes.length, g.links, seeds);
  const n = g.nodes.length;
  return relaxSteps(g, seeds, r, { targets, anchors, alpha: 0.3, ticks: ticksFor("step", n), settle: ticksFor("settle", n), settleAlpha: 0.02, aspect });
}

/** The box of one layout's discs. */
export function layoutBox(positions, r) {
  return bounds(positions.map((p, i) => ({ x: p.x, y: p.y, r: r[i] })));
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 0));
/** Longest run of layout work between two pauses (the page answers the user in between). */
const SLICE_MS = 30;

/** One layer's chain of layouts, for one set of parameters, node size mode and packing aspect. */
export class LayoutChain {
  constructor({ size = "sqrt", aspect = 1 } = {}) {
    this.size = size;
    this.aspect = aspect;
    /** Computed steps in epoch order: {epoch, graph, positions, box}. */
    this.steps = [];
    this.queue = Promise.resolve();
  }

  /** The positions at `epoch`, or null when the chain has not reached it. */
  at(epoch) {
    const s = this.steps.find((x) => x.epoch === epoch);
    return s ? s.positions : null;
  }

  /** The box holding every computed epoch's layout (null when there is none). */
  box() {
    return unionBox(this.steps.map((s) => s.box));
  }

  /**
   * Brings the chain in line with `epochs` and their `graphs` (same order): the steps up to the first epoch whose
   * graph differs (a reload may bring a rewritten epoch) are kept, the rest computed again. `onStep(done, total)`
   * is told after each; between steps the work pauses, so the page stays responsive. Resolves to the number of
   * steps computed, or rejects with an AbortError when `signal` aborts.
   */
  update(epochs, graphs, options = {}) {
    // Two callers (view A and compare's other side) may share a chain: their updates run one after the other.
    const run = this.queue.then(() => this._update(epochs, graphs, options));
    this.queue = run.catch(() => null);
    return run;
  }

  async _update(epochs, graphs, { signal, onStep = () => {} }) {
    let keep = 0;
    while (
      keep < this.steps.length &&
      keep < epochs.length &&
      this.steps[keep].epoch === epochs[keep] &&
      sameGraph(this.steps[keep].graph, graphs[keep])
    ) {
      keep++;
    }
    this.steps.length = keep;
    let t0 = performance.now();
    for (let i = keep; i < epochs.length; i++) {
      const work = this.stepsFor(graphs[i]);
      for (;;) {
        if (performance.now() - t0 > SLICE_MS) {
          await pause();
          if (signal && signal.aborted) throw new DOMException("superseded", "AbortError");
          t0 = performance.now();
        }
        const { done, value } = work.next();
        if (done) {
          this.push(epochs[i], graphs[i], value);
          break;
        }
      }
      onStep(i + 1, epochs.length);
    }
    return epochs.length - keep;
  }

  /** The layout steps of graph `g` after the last step of the chain. */
  stepsFor(g) {
    const last = this.steps[this.steps.length - 1];
    return layoutSteps(last && last.graph, last && last.positions, g, nodeRadii(g, this.size), this.aspect);
  }

  push(epoch, g, positions) {
    this.steps.push({ epoch, graph: g, positions: Object.freeze(positions), box: layoutBox(positions, nodeRadii(g, this.size)) });
  }

  /** Appends epoch `epoch` with graph `g`, laid out after the last step (at once). */
  extend(epoch, g) {
    this.push(epoch, g, runSteps(this.stepsFor(g)));
  }
}

/** Chains by key (run, layer, parameters, size mode, aspect), the most recently used last. */
const chains = new Map();
const MAX_CHAINS = 12;

/** The chain for `key`, made (with `options`) when there is none; the least recently used go beyond MAX_CHAINS. */
export function chainFor(key, options) {
  let c = chains.get(key);
  if (c) chains.delete(key);
  else c = new LayoutChain(options);
  chains.set(key, c);
  while (chains.size > MAX_CHAINS) chains.delete(chains.keys().next().value);
  return c;
}

/** Forgets every chain (for tests and benchmarks: layouts computed again from scratch). */
export function clearChains() {
  chains.clear();
}

/**
 * Where the nodes of `g` start their move to `positions` when `prev` was drawn at `prevDrawn`: a matched node at
 * its predecessors' place, any other at its own (it appears there). Null when there is nothing to move from.
 */
export function tweenFrom(prev, prevDrawn, g, positions) {
  if (!prev || !prevDrawn || !prevDrawn.length || prevDrawn.length !== prev.nodes.length) return null;
  const seeds = seedPositions(prev, prevDrawn, g);
  return seeds.map((p, i) => (p.matched ? { x: p.x, y: p.y } : { x: positions[i].x, y: positions[i].y }));
}
