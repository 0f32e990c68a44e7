// The metrics route's series as the chart shows them: names and what they mean, their order, the y range and its
// ticks, and the health warnings. Nothing in here touches the DOM.

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

/** The chart's metric: the user's choice when the layer has it, else purity (or the first); never written back. */
export function chartMetric(choice, names) {
  return names.includes(choice) ? choice : names.includes("purity") ? "purity" : names[0] || "";
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

/** The health warnings of a metrics payload, as `[epoch, text]` sorted by epoch. */
export function problemList(metrics) {
  const p = (metrics && metrics.problems) || {};
  return Object.entries(p)
    .map(([e, text]) => [Number(e), String(text)])
    .filter(([e]) => Number.isFinite(e))
    .sort((x, y) => x[0] - y[0]);
}
