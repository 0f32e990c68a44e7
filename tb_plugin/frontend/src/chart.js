// The metric chart: one metric of the shown layer across its epochs (SVG), the current epoch marked and the
// epochs the monitor warned about banded; a click on a point goes to its epoch.

import { fmt, svg } from "./dom.js";
import { METRICS, chartDomain, tickStep } from "./metrics.js";

/** A line chart of one metric across epochs, the current epoch marked; click a point to go there. */
export function renderMetricChart(container, data, metric, epoch, onPick) {
  container.textContent = "";
  if (!data || !data.epochs || !data.epochs.length || !data.metrics[metric]) return;
  const W = 290;
  const H = 120;
  const m = { l: 38, r: 8, t: 8, b: 20 };
  const xs = data.epochs;
  const ys = data.metrics[metric];
  const kind = (METRICS[metric] || {}).kind || "real";
  const { lo, hi, ticks } = chartDomain(ys, kind);
  const x0 = xs[0];
  const x1 = xs[xs.length - 1];
  const sx = (x) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y) => H - m.b - ((y - lo) / (hi - lo || 1)) * (H - m.t - m.b);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart" });
  root.dataset.testid = "metric-chart";
  root.dataset.lo = String(lo);
  root.dataset.hi = String(hi);
  root.appendChild(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }));
  root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
  for (const v of ticks) {
    const y = sy(v);
    root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: "grid" }));
    const t = svg("text", { x: m.l - 3, y: y + 3, class: "tick", "text-anchor": "end" });
    t.textContent = String(Number(v.toPrecision(3)));
    t.dataset.testid = "metric-tick";
    root.appendChild(t);
  }
  const xStep = Math.max(1, Math.round(tickStep(x1 - x0, 5)));
  for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
    const t = svg("text", { x: sx(x), y: H - 6, class: "tick", "text-anchor": "middle" });
    t.textContent = String(x);
    root.appendChild(t);
  }
  const problems = (data.problems && Object.keys(data.problems).map(Number)) || [];
  for (const e of problems) {
    if (!xs.includes(e)) continue;
    const band = svg("line", { x1: sx(e), x2: sx(e), y1: m.t, y2: H - m.b, class: "problem-mark" });
    const tip = svg("title");
    tip.textContent = `epoch ${e}: ${data.problems[e]}`;
    band.appendChild(tip);
    root.appendChild(band);
  }
  if (epoch !== null && epoch !== undefined) {
    const marker = svg("line", { x1: sx(epoch), x2: sx(epoch), y1: m.t, y2: H - m.b, class: "marker" });
    marker.dataset.testid = "metric-marker";
    marker.dataset.epoch = String(epoch);
    root.appendChild(marker);
  }
  let d = "";
  xs.forEach((x, i) => {
    const y = ys[i];
    if (y === null || y === undefined) return;
    d += `${d ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
  });
  root.appendChild(svg("path", { d, class: "line" }));
  xs.forEach((x, i) => {
    const y = ys[i];
    if (y === null || y === undefined) return;
    const c = svg("circle", { cx: sx(x), cy: sy(y), r: x === epoch ? 4 : 2.5, class: x === epoch ? "pt current" : "pt" });
    const tip = svg("title");
    tip.textContent = `epoch ${x}: ${fmt(y)}`;
    c.appendChild(tip);
    c.addEventListener("click", () => onPick(x));
    root.appendChild(c);
  });
  container.appendChild(root);
}
