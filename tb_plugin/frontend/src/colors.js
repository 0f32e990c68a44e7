// Colours: one per class, the continuous scales of the other colour modes, which modes a graph offers and which
// one applies (the user's choice, or a stated fallback when the graph cannot show it). No DOM: canvas paths only.

import { interpolateCividis, interpolateSinebow, interpolateViridis, schemeTableau10 } from "d3-scale-chromatic";

/** A colour per class: Tableau 10 while it lasts, then evenly spaced hues. */
export function classColor(k, nClasses) {
  if (k < 0) return "#9e9e9e";
  if (nClasses <= 10) return schemeTableau10[k % 10];
  return interpolateSinebow(k / nClasses);
}

/** What nodes can be coloured by, given the fields the graph's nodes carry. */
export function colorModes(g) {
  const first = g.nodes[0] || {};
  const modes = [];
  if (Array.isArray(first.classes)) {
    modes.push(["classes", "class mix"], ["dominant", "dominant class"]);
  }
  const has = (f) => g.nodes.some((n) => n[f] !== null && n[f] !== undefined);
  if (has("purity")) modes.push(["purity", "purity"]);
  if (has("mean_correct")) modes.push(["mean_correct", "accuracy"]);
  if (has("mean_loss")) modes.push(["mean_loss", "mean loss"]);
  modes.push(["mean_lens", "mean lens"]);
  for (const k of Object.keys(first)) {
    // mean_prediction is a mean of class indices: it means nothing, so it is not offered.
    if (k.startsWith("mean_") && !["mean_correct", "mean_loss", "mean_lens", "mean_prediction"].includes(k) && has(k)) {
      modes.push([k, k.slice(5).replace(/_/g, " ")]);
    }
  }
  if (!modes.length) modes.push(["mean_lens", "mean lens"]);
  return modes;
}

/** The continuous colour scale of a mode: fixed domains where the quantity has one, the graph's range otherwise. */
export function continuousScale(g, mode) {
  let lo = 0;
  let hi = 1;
  // Accuracy and loss use cividis (blue to yellow: readable with any colour vision, never red against green):
  // bright is good for both, so loss runs the ramp backwards.
  let interp = interpolateViridis;
  if (mode === "mean_correct") interp = interpolateCividis;
  else if (mode !== "purity") {
    const vals = g.nodes.map((n) => n[mode]).filter((v) => v !== null && v !== undefined);
    lo = vals.length ? Math.min(...vals) : 0;
    hi = vals.length ? Math.max(...vals) : 1;
    if (mode === "mean_loss") {
      lo = 0;
      interp = (t) => interpolateCividis(1 - t);
    }
  }
  const span = hi - lo || 1;
  const color = (v) => (v === null || v === undefined ? "#9e9e9e" : interp(Math.min(1, Math.max(0, (v - lo) / span))));
  // 64 levels are indistinguishable from a continuous ramp and let nodes be drawn in 64 batches.
  const levels = Array.from({ length: 64 }, (_, i) => interp(i / 63));
  const quantized = (v) =>
    v === null || v === undefined ? "#9e9e9e" : levels[Math.round(63 * Math.min(1, Math.max(0, (v - lo) / span)))];
  return { lo, hi, color, interp, quantized };
}

/** Fills each colour's path (a Map colour -> Path2D) at `alpha`: one fill call per colour, however many shapes. */
export function fillByColour(ctx, paths, alpha) {
  ctx.globalAlpha = alpha;
  for (const [color, p] of paths) {
    ctx.fillStyle = color;
    ctx.fill(p);
  }
  ctx.globalAlpha = 1;
}

const MODE_LABELS = {
  classes: "class mix",
  dominant: "dominant class",
  purity: "purity",
  mean_correct: "accuracy",
  mean_loss: "mean loss",
  mean_lens: "mean lens",
};

/** A colour mode as the select names it ("mean_foo" -> "foo" for the extras a graph carries). */
export function colorLabel(mode) {
  return MODE_LABELS[mode] || String(mode).replace(/^mean_/, "").replace(/_/g, " ");
}

/**
 * The colour mode a view draws with, given the user's `choice` and the `modes` the graph offers (colorModes):
 * the choice when the graph can show it; otherwise the graph's first mode, with `note` saying why, while the
 * choice itself stays in the state (and the URL) and applies again to the next graph that can show it.
 * `g` is the graph (for the reason: no nodes, no labels, no such values).
 */
export function effectiveColor(choice, modes, g) {
  const values = modes.map((m) => m[0]);
  if (values.includes(choice)) return { mode: choice, note: null };
  const mode = values[0];
  const why =
    g && !g.nodes.length
      ? "this graph has no nodes"
      : choice === "classes" || choice === "dominant"
        ? "this graph has no class labels"
        : "this graph's nodes do not carry it";
  return { mode, note: `Colour by ${colorLabel(choice)} does not apply: ${why}. Shown by ${colorLabel(mode)}; your choice returns with a graph that has it.` };
}
