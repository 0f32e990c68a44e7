// The tab's modes as pure functions of the view state: which mode is on, compare mode's two sides in reading
// order (earlier on the left) and the words that name them, the layers layers mode shows, the size of a graph's
// pane in each mode, and the Mapper query every view on screen shares. Nothing in here touches the DOM.

import { panelsPerRow } from "./frame.js";
import { mapperQuery, remapBlocked } from "./params.js";
import { runInfo } from "./state.js";

/** The mode the state asks for: "compare", "layers", "projection" or "single" (a URL may ask for several: the
 * first of those wins). */
export function modeOf(state) {
  if (state.cmp) return "compare";
  if (state.lay) return "layers";
  if (state.proj) return "projection";
  return "single";
}

/** The patch that turns `mode` on (or off, when it is on): one mode at a time; the projection's selection goes
 * when its panel does, and so do the other modes' data. */
export function toggleMode(state, mode) {
  const on = modeOf(state) !== mode;
  const modes = { cmp: on && mode === "compare", lay: on && mode === "layers", proj: on && mode === "projection" };
  return { ...modes, psel: [], lpin: null, compare: null, layers: null };
}

/** B's default epoch: the logged epoch before A's (forward in time to A), or the next one when A is the first. */
export function defaultEpoch2(epochs, epoch) {
  const i = epochs.indexOf(epoch);
  if (i > 0) return epochs[i - 1];
  if (i === 0 && epochs.length > 1) return epochs[1];
  return epochs.length ? epochs[epochs.length - 1] : null;
}

/**
 * Compare mode's two graphs in reading order: the earlier epoch on the left, the later on the right (A, the one
 * the epoch slider moves, on the left when the epochs are equal). `a` and `b` are `{run, layer, epoch}`. Returns
 * `{first, second, flipped}`: `first` is drawn on the left and is the compare route's first graph, so that splits
 * and merges read forward in time; `flipped` means B is on the left.
 */
export function compareOrder(a, b) {
  const flipped = b.epoch < a.epoch;
  return flipped ? { first: b, second: a, flipped } : { first: a, second: b, flipped };
}

/**
 * The words that name compare mode's sides, in the captions and the summary alike: `from` and `to` ("epoch 2",
 * or "run / layer · epoch 2" when the sides differ in run or layer) and `where` ("run / layer" when they share
 * it, else null). `first` and `second` are `{run, layer, epoch}`, as compareOrder gives them.
 */
export function compareWords(first, second) {
  const where = (s) => `${s.run} / ${s.layer}`;
  const same = where(first) === where(second);
  const label = (s) => (same ? `epoch ${s.epoch}` : `${where(s)} · epoch ${s.epoch}`);
  return { from: label(first), to: label(second), where: same ? where(first) : null };
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

/** The other graph's run and layer in compare mode, given the state: known without asking the server. */
export function compareSide(state) {
  const run = state.runs.some((r) => r.run === state.run2) ? state.run2 : state.run;
  const layers = runInfo(state, run).layers;
  const layer = layers.includes(state.layer2) ? state.layer2 : layers.includes(state.layer) ? state.layer : layers[layers.length - 1];
  return { run, layer, layers };
}

/**
 * Why the card's parameters cannot apply to the graphs on screen, or null: no parameter rules from the server,
 * or no stored activations for A or, while comparing, for the other graph (the two and their comparison are
 * mapped alike, or the route's node ids would not be those on screen).
 */
export function remapReason(state) {
  if (!state.spec) return state.specError ? `Re-mapping is unavailable: ${state.specError}.` : "Asking the server for the parameters' limits…";
  const a = remapBlocked(runInfo(state, state.run), state.layer);
  if (a || modeOf(state) !== "compare") return a;
  const b = compareSide(state);
  const reason = remapBlocked(runInfo(state, b.run), b.layer);
  return reason && `Compared with ${b.run} / ${b.layer}: ${reason}`;
}

/**
 * The route query every view on screen uses: the card's parameters, or `{}` (the logged graphs) when they cannot
 * apply (remapReason) to A, the compared graph, or any of `sides` (`{run, layer}` each: layers mode's panels).
 */
export function queryFor(state, ...sides) {
  if (remapReason(state) || sides.some((x) => remapBlocked(runInfo(state, x.run), x.layer))) return {};
  return mapperQuery(state);
}

/** Height a horizontal scroll bar takes from layers mode's panels when they do not all fit. */
export const SCROLLBAR = 12;

/**
 * The size of one graph pane in the graphs' area (`state.main`) in the state's mode: all of it, half of it beside
 * compare's other graph or the projection, or one of layers mode's panels (as many side by side as stay readable,
 * frame.js panelsPerRow; the others scroll into view).
 */
export function paneSize(state) {
  const { width, height } = state.main;
  const mode = modeOf(state);
  if (mode === "compare" || mode === "projection") return { width: Math.floor(width / 2), height, perRow: 2 };
  if (mode === "layers") {
    const n = shownLayers(runInfo(state, state.run).layers, state.layer, state.lays).length;
    const perRow = panelsPerRow(width, n);
    return { width: Math.floor(width / perRow), height: height - (perRow < n ? SCROLLBAR : 0), perRow };
  }
  return { width, height, perRow: 1 };
}
