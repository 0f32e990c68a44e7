// The side bar, drawn from the state: the layer's health warning, the graph's summary, the legend (with the note
// when the colour chosen cannot apply), the Mapper parameter card, the metric chart, the findings, the
// comparison, the tracked samples (and their loader) and the selected node's panel.

import { api } from "./api.js";
import { renderMetricChart } from "./chart.js";
import { colorModes, effectiveColor } from "./colors.js";
import { el } from "./dom.js";
import { FindingsPanel } from "./findingspanel.js";
import { Loader } from "./loaders.js";
import { METRICS, chartMetric, metricOrder } from "./metrics.js";
import { describeParams } from "./params.js";
import { ParamsPanel } from "./paramspanel.js";
import { renderLegend, renderNodePanel, renderTrack } from "./panels.js";
import { runInfo } from "./state.js";
import { fillSelect } from "./toolbar.js";

const HELP = [
  "Each node is a cluster of probe samples whose activations are close, found within one slice of the lens (cover element). Its area grows with its member count.",
  "An edge joins two nodes that share samples; thicker edges share more (Jaccard weight). Use the Edges slider to hide weak ones.",
  "Colours: pies show the class mix of a node's members; a pure node is one colour. Other modes colour by purity, accuracy, loss or mean lens.",
  "As training goes on, a class that separates shows up as its own branch or component; mixed nodes are where the network still confuses classes.",
  "Move the epoch slider (or press ← →): the view stays put and each node keeps its place while its members stay together, so splits, merges and new branches stand out. An epoch is always laid out the same way, however you reach it.",
];

const touches = (changed, keys) => keys.some((k) => changed.has(k));

export class SideBar {
  constructor(app) {
    this.app = app;
    const c = el;
    this.healthBox = c("div", { cls: "warning", testid: "layer-health" });
    this.healthBox.hidden = true;
    this.summary = c("div", { cls: "graph-summary", testid: "graph-summary" });
    this.legend = c("div", { cls: "legend", testid: "legend" });
    this.metricSel = c("select", { testid: "metric-select", title: "Metric" });
    this.metricSel.addEventListener("change", () => app.set({ metric: this.metricSel.value }));
    this.chart = c("div", { cls: "chart-box" });
    this.compareSummary = c("div", { cls: "card compare-summary", testid: "compare-summary" });
    this.compareSummary.hidden = true;
    this.trackBox = c("div", { cls: "card track-box", testid: "track-box" });
    this.trackBox.hidden = true;
    const findingsBox = c("div", { cls: "card findings", testid: "findings" });
    findingsBox.hidden = true;
    const paramsBox = c("div", { cls: "card params", testid: "params" });
    this.panel = c("div", { cls: "card node-panel", testid: "node-panel" });
    this.panel.hidden = true;
    const help = c("details", { cls: "card help" }, [c("summary", { text: "How to read a graph" }), ...HELP.map((t) => c("p", { text: t }))]);
    const chartCard = c("div", { cls: "card" }, [c("div", { cls: "section-title" }, [c("span", { text: "Metric " }), this.metricSel]), this.chart]);
    this.element = c("div", { cls: "side" }, [
      this.healthBox,
      this.summary,
      this.legend,
      paramsBox,
      chartCard,
      findingsBox,
      this.compareSummary,
      this.trackBox,
      this.panel,
      help,
    ]);
    this.params = new ParamsPanel(paramsBox, app);
    this.findings = new FindingsPanel(findingsBox, app);
    const store = app.store;
    this.loader = new Loader(store, {
      want: (s) => (s.track.length && s.graph ? { run: s.graph.run, layer: s.graph.layer, track: s.track, query: s.query, reloads: s.reloads } : null),
      load: async (w, signal) => ({ trackData: { track: w.track, data: await api.track(w.run, w.layer, w.track, signal, w.query) } }),
      fail: (e, w) => {
        console.warn("topoact: track failed:", e.message);
        return { trackData: { track: w.track, data: { epochs: [], nodes: {} } } };
      },
    });
  }

  render(state, changed) {
    const g = state.graph;
    if (touches(changed, ["health", "layer", "graph"])) this.renderHealth(state);
    if (touches(changed, ["graph", "runs", "run"])) this.renderSummary(state);
    if (touches(changed, ["graph", "color", "cls"])) {
      const { mode, note } = g ? effectiveColor(state.color, colorModes(g), g) : { mode: state.color, note: null };
      renderLegend(this.legend, g, mode, state.cls, (k) => this.app.set({ cls: k }), note);
    }
    this.params.render(state, changed);
    if (touches(changed, ["metrics", "metric", "epoch"])) this.renderChart(state);
    this.findings.render(state, changed);
    if (touches(changed, ["track", "trackData", "epoch"])) {
      const data = state.trackData && state.trackData.track === state.track ? state.trackData.data : null;
      renderTrack(this.trackBox, state.track, data, state.epoch, {
        onClear: () => this.app.set({ track: [] }),
        onPick: (e) => this.app.set({ epoch: e }),
      });
    }
    if (touches(changed, ["graph", "node", "runs"])) this.renderPanel(state, changed.has("node"));
  }

  renderHealth(state) {
    const h = state.graph ? state.health[state.graph.layer] : null;
    this.healthBox.hidden = !h;
    this.healthBox.textContent = h ? `⚠ The monitor warned about ${state.graph.layer}:\n${h.all.map(([e, t]) => `epoch ${e}: ${t}`).join("\n")}` : "";
  }

  renderSummary(state) {
    const g = state.graph;
    this.summary.textContent = "";
    if (!g) return;
    const m = g.metrics || {};
    const items = [
      ["nodes", m.nodes ?? g.nodes.length],
      ["edges", m.edges ?? g.edges.length],
      ["components", m.components],
      ["loops", m.loops],
      ["purity", m.purity],
      ["coverage", m.coverage],
    ];
    const problems = Object.entries(runInfo(state, g.run).problems || {});
    if (problems.length) {
      const warn = el("div", { cls: "warning", testid: "run-problems" });
      warn.textContent = problems.map(([tag, msg]) => `${tag}: ${msg}`).join("\n");
      this.summary.appendChild(warn);
    }
    for (const [k, v] of items) {
      const d = el("div", { cls: "stat" }, [
        el("b", { text: v === null || v === undefined ? "–" : Number.isInteger(v) ? String(v) : Number(v).toFixed(2) }),
        el("span", { text: k }),
      ]);
      d.dataset.stat = k;
      this.summary.appendChild(d);
    }
    if (g.remapped) {
      const text = `Re-mapped from stored activations: ${describeParams(g.params)}`;
      this.summary.appendChild(el("div", { cls: "remap-note", testid: "remap-summary", text }));
    }
  }

  renderChart(state) {
    const names = metricOrder(state.metrics ? Object.keys(state.metrics.metrics || {}) : []);
    fillSelect(this.metricSel, names);
    [...this.metricSel.options].forEach((o) => (o.title = (METRICS[o.value] || {}).title || o.value));
    const metric = chartMetric(state.metric, names);
    this.metricSel.value = metric;
    renderMetricChart(this.chart, state.metrics, metric, state.epoch, (e) => this.app.set({ epoch: e }));
  }

  renderPanel(state, reveal) {
    const g = state.graph;
    const index = g && state.node !== null ? g.index.get(state.node) ?? null : null;
    const info = g ? runInfo(state, g.run) : null;
    renderNodePanel(this.panel, g, index, {
      thumbnailUrl: info && info.thumbnails ? (i) => api.thumbnailUrl(g.run, i) : null,
      onTrack: (members) => this.app.set({ track: members.slice(0, 500) }),
      onClose: () => this.app.set({ node: null }),
    });
    // A node was selected: bring its panel into the side bar's view (it sits below the chart).
    if (reveal && index !== null) {
      requestAnimationFrame(() => {
        if (!this.panel.hidden) this.panel.scrollIntoView({ block: "nearest", behavior: "auto" });
      });
    }
  }
}
