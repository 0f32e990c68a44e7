// Entry point of the TopoAct TensorBoard plugin. TensorBoard loads this module in the plugin's iframe and calls
// render() once. The App owns the view state (one write path: `update(patch)`), the runs, layers and epochs, and
// view A; the toolbar (toolbar.js), compare mode (compare.js) and tracking (tracking.js) are controllers that
// read the state and write it only through `update`.

import css from "./style.css";
import { CompareController } from "./compare.js";
import { intersectFocus, layerHealth } from "./findings.js";
import { FindingsPanel } from "./findingspanel.js";
import { LayersController } from "./layers.js";
import { ProjectionController, unavailable } from "./projection.js";
import * as host from "./host.js";
import { PARAM_STATE_KEYS, describeParams, mapperQuery, remapBlocked, remappedMark, remapping } from "./params.js";
import { ParamsPanel } from "./paramspanel.js";
import {
  DEFAULTS,
  HttpError,
  Store,
  api,
  clearCache,
  componentCentres,
  decodeState,
  edgeCrossings,
  encodeState,
  focusSet,
  isAbort,
  metricOrder,
  METRICS,
  nodesContaining,
  offscreen,
  overlaps,
  packComponents,
  problemList,
  readOwnHash,
  seedPositions,
  settled,
  snapEpoch,
} from "./model.js";
import { Toolbar, fillSelect } from "./toolbar.js";
import { TrackingController } from "./tracking.js";
import {
  GraphView,
  colorModes,
  el,
  radiusOf,
  renderLegend,
  renderMetricChart,
  renderNodePanel,
} from "./views.js";

const PLAY_INTERVAL_MS = 1200;
/** Keys whose change only restyles the views (no fetching, no layout). */
const STYLE_KEYS = ["color", "size", "thr", "cls", "q", "node", "track", "psel"];

class App {
  constructor(root) {
    this.root = root;
    this.store = new Store();
    this.update = (patch) => this.store.set(patch);
    this.runs = [];
    this.epochs = [];
    this.graph = null;
    this.graphKey = null;
    this.metrics = null;
    this.health = {};
    this.playing = null;
    this.ctl = { runs: null, layer: null, graph: null, metrics: null };
    this.timings = { firstRender: null, lastSwitch: null, renders: 0 };
    this.t0 = performance.now();
    this.build();
  }

  // ---------------------------------------------------------------------------------------------- layout
  build() {
    const c = el;
    this.toolbar = new Toolbar({
      update: this.update,
      actions: {
        play: () => (this.playing ? this.stop() : this.play()),
        // The projection's selection focuses the graph: it goes when the panel does.
        toggleCompare: () => this.update({ cmp: !this.store.get().cmp, lay: false, proj: false, psel: [] }),
        toggleLayers: () => this.update({ lay: !this.store.get().lay, cmp: false, proj: false, psel: [] }),
        toggleProjection: () => this.update({ proj: !this.store.get().proj, cmp: false, lay: false, psel: [] }),
        fit: () => {
          this.viewA.fit();
          if (this.compare.view) this.compare.view.fit();
          for (const v of this.layers.views().slice(1)) v.fit();
        },
        relayout: () => this.relayout(),
        reload: () => this.reload(),
      },
    });
    this.graphs = c("div", { cls: "graphs" });
    this.status = c("div", { cls: "status", testid: "status" });
    this.status.hidden = true;
    const main = c("div", { cls: "main" }, [this.graphs, this.status]);

    this.legend = c("div", { cls: "legend", testid: "legend" });
    this.metricSel = c("select", { testid: "metric-select", title: "Metric" });
    this.metricSel.addEventListener("change", () => this.update({ metric: this.metricSel.value }));
    this.chart = c("div", { cls: "chart-box" });
    this.summary = c("div", { cls: "graph-summary", testid: "graph-summary" });
    this.healthBox = c("div", { cls: "warning", testid: "layer-health" });
    this.healthBox.hidden = true;
    const compareSummary = c("div", { cls: "card compare-summary", testid: "compare-summary" });
    compareSummary.hidden = true;
    const trackBox = c("div", { cls: "card track-box", testid: "track-box" });
    trackBox.hidden = true;
    const findingsBox = c("div", { cls: "card findings", testid: "findings" });
    findingsBox.hidden = true;
    const paramsBox = c("div", { cls: "card params", testid: "params" });
    this.panel = c("div", { cls: "card node-panel", testid: "node-panel" });
    this.panel.hidden = true;
    const help = c("details", { cls: "card help" }, [
      c("summary", { text: "How to read a graph" }),
      ...[
        "Each node is a cluster of probe samples whose activations are close, found within one slice of the lens (cover element). Its area grows with its member count.",
        "An edge joins two nodes that share samples; thicker edges share more (Jaccard weight). Use the Edges slider to hide weak ones.",
        "Colours: pies show the class mix of a node's members; a pure node is one colour. Other modes colour by purity, accuracy, loss or mean lens.",
        "As training goes on, a class that separates shows up as its own branch or component; mixed nodes are where the network still confuses classes.",
        "Move the epoch slider (or press ← →): nodes keep their place when their members stay together, so splits, merges and new branches stand out.",
      ].map((t) => c("p", { text: t })),
    ]);
    const side = c("div", { cls: "side" }, [
      this.healthBox,
      this.summary,
      this.legend,
      paramsBox,
      c("div", { cls: "card" }, [c("div", { cls: "section-title" }, [c("span", { text: "Metric " }), this.metricSel]), this.chart]),
      findingsBox,
      compareSummary,
      trackBox,
      this.panel,
      help,
    ]);
    this.side = side;
    this.body = c("div", { cls: "body" }, [main, side]);
    this.layers = new LayersController(this, { update: this.update });
    this.root.append(this.toolbar.element, this.toolbar.compareBar, this.layers.bar, this.body);

    this.viewA = new GraphView(this.graphs, {
      testid: "graph-a",
      onClick: (i) => this.update({ node: i === null ? null : this.graph.nodes[i].id, psel: [] }),
      onHover: (i) => {
        this.compare.linkHover("a", i);
        this.layers.linkHover(this.store.get().layer, i);
      },
    });
    this.compare = new CompareController(this, { update: this.update, summaryBox: compareSummary });
    this.projection = new ProjectionController(this, { update: this.update });
    this.tracking = new TrackingController(trackBox, {
      update: this.update,
      state: () => this.store.get(),
      params: (run, layer) => this.mapperParams({ run, layer }),
    });
    this.params = new ParamsPanel(paramsBox, { update: this.update, state: () => this.store.get() });
    this.findings = new FindingsPanel(findingsBox, {
      update: this.update,
      state: () => this.store.get(),
      restyle: () => this.restyle(),
    });

    // The arrow keys step epochs wherever the focus is, except in a text field (where they move the caret):
    // captured before a focused select or slider would change its own value with them.
    window.addEventListener(
      "keydown",
      (ev) => {
        const t = ev.target;
        const typing =
          t instanceof HTMLTextAreaElement ||
          (t instanceof HTMLElement && t.isContentEditable) ||
          (t instanceof HTMLInputElement && !["range", "checkbox", "radio", "button"].includes(t.type));
        if (typing || ev.altKey || ev.ctrlKey || ev.metaKey) return;
        if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
          ev.preventDefault();
          ev.stopPropagation();
          this.stepEpoch(ev.key === "ArrowRight" ? 1 : -1);
        } else if (ev.key === "Escape") {
          this.update({ node: null, psel: [] });
        }
      },
      true,
    );
    this.store.subscribe((state, changed) => this.onState(state, changed));
  }

  // ------------------------------------------------------------------------------------------ state flow
  async start() {
    host.connect();
    host.listen("experimental.DataReloaded", () => this.reload());
    host.listen("experimental.RunsChanged", () => null);
    this.applyTheme(host.watchDarkMode((dark) => this.applyTheme(dark)));
    const fromParent = decodeState(host.readParentHashState());
    const fromOwn = decodeState(readOwnHash(window.location.hash));
    const initial = Object.keys(fromParent).length ? fromParent : fromOwn;
    this.store.amend({ ...DEFAULTS, ...initial });
    this.toolbar.sync(this.store.get());
    await this.loadRuns();
  }

  applyTheme(dark) {
    document.body.classList.toggle("dark", dark);
    const cs = getComputedStyle(document.body);
    const v = (name) => cs.getPropertyValue(name).trim();
    const theme = { fg: v("--fg"), bg: v("--bg"), edge: v("--edge-rgb"), accent: v("--accent"), select: v("--select") };
    this.viewA.setTheme(theme);
    if (this.compare.view) this.compare.view.setTheme(theme);
    for (const v of this.layers ? this.layers.views().slice(1) : []) v.setTheme(theme);
    this.theme = theme;
    if (this.projection) this.projection.draw();
  }

  /** The single reaction to every state change: each part of the page redone once. */
  onState(state, changed) {
    this.writeHash(state);
    this.toolbar.sync(state);
    this.findings.sync(state);
    if (changed.has("run") || changed.has("layer")) {
      this.loadLayer();
      return;
    }
    // Compare's B choosing a side without stored activations (or leaving it) changes what A is mapped with.
    const paramsChanged = PARAM_STATE_KEYS.some((k) => changed.has(k));
    const bChanged = ["cmp", "run2", "layer2", "epoch2"].some((k) => changed.has(k));
    const remap = paramsChanged || (bChanged && this.graph && this.graphParams !== queryKey(this.mapperParams()));
    if (remap) {
      this.syncParams();
      // Every view re-maps (A, then B or the other layers once A is shown), then the chart and the track.
      this.showEpoch().then((shown) => {
        if (!shown) return;
        this.loadMetrics(state.run, state.layer);
        if (state.track.length) this.tracking.refresh();
      });
    } else if (changed.has("epoch")) this.showEpoch(); // which refreshes B when compare is on
    if (!paramsChanged && !changed.has("epoch")) {
      // B waits for a re-fetched A (whose showing refreshes it); closing it does not wait.
      if (bChanged && (!remap || !state.cmp)) this.compare.refresh();
      if (["lay", "lays", "cmp"].some((k) => changed.has(k))) this.layers.refresh();
      if (["proj", "projm", "cmp", "lay"].some((k) => changed.has(k))) this.projection.refresh();
    }
    if (changed.has("track")) this.tracking.refresh();
    if (STYLE_KEYS.some((k) => changed.has(k))) this.restyle();
    if (changed.has("node") && state.node !== null) this.revealPanel();
    if (changed.has("metric")) this.drawChart();
  }

  writeHash(state) {
    clearTimeout(this.hashTimer);
    this.hashTimer = setTimeout(() => {
      const pairs = encodeState(state);
      const own = new URLSearchParams(pairs).toString();
      try {
        history.replaceState(history.state, "", `${location.pathname}${location.search}${own ? "#" + own : ""}`);
      } catch {
        // about:srcdoc or sandboxed: the parent hash below is what matters for sharing anyway.
      }
      host.writeParentHashState(pairs, Object.keys(DEFAULTS));
    }, 150);
  }

  showStatus(kind, text, detail) {
    this.status.textContent = "";
    if (!kind) {
      this.status.hidden = true;
      return;
    }
    this.status.hidden = false;
    this.status.className = `status ${kind}`;
    this.status.dataset.kind = kind;
    this.status.appendChild(el("div", { cls: "status-title", text }));
    if (detail) this.status.appendChild(el("div", { cls: "status-detail", text: detail }));
  }

  showError(err, what) {
    const detail = err instanceof HttpError ? `${err.message}${err.status ? ` (HTTP ${err.status})` : ""}` : String(err && err.message ? err.message : err);
    this.showStatus("error", `Could not load ${what}`, detail);
    console.warn(`topoact: could not load ${what}:`, detail);
  }

  /** A fresh AbortController for `slot`, aborting the request it supersedes. */
  supersede(slot) {
    if (this.ctl[slot]) this.ctl[slot].abort();
    return (this.ctl[slot] = new AbortController());
  }

  async loadRuns() {
    const ctl = this.supersede("runs");
    let runs;
    try {
      runs = await api.runs(ctl.signal);
    } catch (e) {
      if (!isAbort(e)) this.showError(e, "the list of runs");
      return;
    }
    const all = Array.isArray(runs) ? runs : [];
    this.runs = all.filter((r) => r.layers && r.layers.length);
    const broken = all.filter((r) => !(r.layers && r.layers.length) && r.problems && Object.keys(r.problems).length);
    if (!this.runs.length && broken.length) {
      const lines = broken.flatMap((r) => Object.entries(r.problems).map(([tag, msg]) => `${r.run} / ${tag}: ${msg}`));
      this.showStatus("error", "TopoAct data found, but none of it is readable", lines.join("\n"));
      return;
    }
    if (!this.runs.length) {
      this.epochs = [];
      this.graph = null;
      this.viewA.setGraph({ nodes: [], links: [], class_names: [] }, []);
      this.showStatus(
        "empty",
        "No TopoAct data yet",
        "Add TopoActMonitor(layers=[...]) to your Trainer's callbacks, train with a TensorBoardLogger writing under this logdir, then press Reload.",
      );
      return;
    }
    this.toolbar.setRuns(this.runs.map((r) => r.run));
    const s = this.store.get();
    const run = this.runs.some((r) => r.run === s.run) ? s.run : this.runs[0].run;
    const layers = this.runInfo(run).layers;
    // Layers come in watch order (input side first): the last one, nearest the output, says the most.
    const layer = layers.includes(s.layer) ? s.layer : layers[layers.length - 1];
    this.store.amend({ run, layer });
    this.toolbar.sync(this.store.get());
    await this.loadLayer();
  }

  runInfo(run) {
    return this.runs.find((r) => r.run === run) || { run, layers: [], thumbnails: false };
  }

  /**
   * Why the card's parameters cannot apply to the graphs on screen (A, and B while comparing: the two and their
   * comparison must be mapped alike, or the route's node ids would not be those on screen), or null.
   */
  remapReason() {
    const s = this.store.get();
    const a = remapBlocked(this.runInfo(s.run), s.layer);
    if (a || !s.cmp) return a;
    const b = this.compare.side(s);
    const reason = remapBlocked(this.runInfo(b.run), b.layer);
    return reason && `B (${b.run} / ${b.layer}): ${reason}`;
  }

  /**
   * The route query of the parameter card's settings for A (and B while comparing) and any other `sides`
   * ({run, layer} each): `{}` (the logged graphs) when one of them has no stored activations to re-map.
   */
  mapperParams(...sides) {
    if (this.remapReason() || sides.some((x) => remapBlocked(this.runInfo(x.run), x.layer))) return {};
    return mapperQuery(this.store.get());
  }

  /** The parameter card, in line with the state, the shown graph and the stored activations of what is shown. */
  syncParams() {
    this.params.sync(this.store.get(), this.graph, this.remapReason());
  }

  /** The run's layers' health warnings (their metrics routes' problems and the run's fault findings), for the
   * layer picker and the badge; loads the findings panel on the way. */
  async loadHealth(run, signal) {
    const layers = this.runInfo(run).layers;
    const [results, findings] = await Promise.all([
      Promise.all(layers.map((l) => api.metrics(run, l, signal).catch((e) => (isAbort(e) ? Promise.reject(e) : null)))),
      this.findings.load(run, signal),
    ]);
    return layerHealth(Object.fromEntries(layers.map((l, i) => [l, problemList(results[i])])), findings);
  }

  /** A run or layer was chosen (or the runs were reloaded): its epochs, health, metrics, then its graph. */
  async loadLayer() {
    const ctl = this.supersede("layer");
    const { run, layer } = this.store.get();
    const info = this.runInfo(run);
    this.toolbar.setLayers(info.layers, this.health);
    this.toolbar.setProjectionUnavailable(unavailable(info, layer));
    if (!info.layers.includes(layer)) {
      this.update({ layer: info.layers[info.layers.length - 1] || "" });
      return;
    }
    let resp;
    try {
      [resp, this.health] = await Promise.all([api.epochs(run, layer, ctl.signal), this.loadHealth(run, ctl.signal)]);
    } catch (e) {
      if (!isAbort(e)) this.showError(e, `the epochs of ${run} / ${layer}`);
      return;
    }
    this.toolbar.setLayers(info.layers, this.health);
    const previous = this.epochs;
    this.epochs = resp.epochs || [];
    // Watching the latest epoch while training runs: stay on the latest when a reload brings a newer one.
    const current = this.store.get().epoch;
    if (previous.length && current === previous[previous.length - 1] && this.epochs.length > previous.length) {
      this.store.amend({ epoch: this.epochs[this.epochs.length - 1] });
    }
    this.toolbar.setEpochs(this.epochs);
    if (!this.epochs.length) {
      this.showStatus("empty", `No graphs logged yet for ${layer}`, "Graphs appear after the first monitored epoch.");
      return;
    }
    this.store.amend({ epoch: snapEpoch(this.epochs, this.store.get().epoch) });
    this.toolbar.sync(this.store.get());
    this.loadMetrics(run, layer);
    if ((await this.showEpoch()) && this.store.get().track.length) this.tracking.refresh();
  }

  async loadMetrics(run, layer) {
    const ctl = this.supersede("metrics");
    try {
      this.metrics = await api.metrics(run, layer, ctl.signal, this.mapperParams({ run, layer }));
    } catch (e) {
      if (isAbort(e)) return;
      this.metrics = null;
      console.warn("topoact: metrics unavailable:", e.message);
    }
    const names = metricOrder(this.metrics ? Object.keys(this.metrics.metrics || {}) : []);
    fillSelect(this.metricSel, names);
    [...this.metricSel.options].forEach((o) => (o.title = (METRICS[o.value] || {}).title || o.value));
    const s = this.store.get();
    if (!names.includes(s.metric)) {
      this.store.amend({ metric: names.includes("purity") ? "purity" : names[0] || "" });
    }
    this.metricSel.value = this.store.get().metric;
    this.drawChart();
  }

  drawChart() {
    const s = this.store.get();
    renderMetricChart(this.chart, this.metrics, s.metric, s.epoch, (e) => this.update({ epoch: e }));
  }

  /** Starting positions and component centres of a fresh layout of `g`: components packed, largest first. */
  freshLayout(g, view) {
    const nSamples = g.n_samples || 1;
    const radii = g.nodes.map((n) => radiusOf(n.size ?? n.members.length, nSamples, view.style.sizeMode));
    const aspect = view.width && view.height ? view.width / view.height : 1;
    const { positions, centres } = packComponents(g.nodes.length, g.links, radii, { aspect });
    return { seeds: positions, targets: centres };
  }

  /**
   * Fetch the current epoch's graph and show it. Within one layer the layout follows the members (nodes start
   * where their predecessors were); a new run or layer, or `fresh`, starts a fresh packed layout. Resolves to
   * true when it showed a graph (false when superseded, refused or failed).
   */
  async showEpoch({ fresh = false } = {}) {
    const ctl = this.supersede("graph");
    const s = this.store.get();
    if (s.epoch === null) return false;
    const t0 = performance.now();
    // The running relaxation would compete with fetching and seeding for the main thread; the new graph's own
    // relaxation starts from the positions it has reached.
    this.viewA.sim.stop();
    const params = this.mapperParams();
    const remap = remapping(s) && !this.remapReason();
    this.params.setBusy(remap);
    let g;
    try {
      g = await api.graph(s.run, s.layer, s.epoch, ctl.signal, params);
    } catch (e) {
      if (isAbort(e)) return false;
      this.params.setBusy(false);
      if (remap && this.graph && e instanceof HttpError && e.status === 400) {
        // Parameters the server refuses: its reason in the card, the last good graph stays on screen.
        this.params.setError(e.message);
        console.warn("topoact: re-mapping refused:", e.message);
      } else this.showError(e, `the graph of ${s.run} / ${s.layer} at epoch ${s.epoch}`);
      return false;
    }
    this.params.setBusy(false);
    this.params.setError(null);
    this.graphParams = queryKey(params);
    const tFetched = performance.now();
    const prev = this.graph;
    const key = `${s.run}\u0000${s.layer}`;
    const sameLayer = prev && this.graphKey === key && this.viewA.nodes.length;
    if (!fresh && sameLayer && prev !== g && sameGraph(prev, g)) {
      // A reload (TensorBoard refreshes every 30 s) that brought the same graph: keep the picture as it is.
      this.graph = g;
      this.viewA.graph = g;
      this.viewA.sim.restart();
      this.restyle();
      this.timings.renders++;
      this.renderedEpoch = s.epoch;
      // The same nodes may come from other parameters (the logged graph, then a re-mapped one that equals it).
      this.setCaptions();
      this.renderSummary();
      this.afterShow();
      return true;
    }
    const layout = !fresh && sameLayer ? null : this.freshLayout(g, this.viewA);
    const seeds = layout ? layout.seeds : seedPositions(prev, this.viewA.positions(), g);
    const targets = layout ? layout.targets : componentCentres(g.nodes.length, g.links, seeds);
    const tSeeded = performance.now();
    // Keep the selected node in view across epochs: follow it to the node that took most of its members.
    let node = s.node;
    if (sameLayer && prev !== g && node !== null && prev.index.has(node)) node = successor(prev, g, prev.index.get(node));
    else if (node !== null && !g.index.has(node)) node = null;
    this.graph = g;
    this.graphKey = key;
    this.showStatus(null);
    this.refreshColorModes(g);
    if (!g.nodes.length) this.showStatus("empty", "This graph has no nodes", "Every sample was left unassigned: try other Mapper parameters.");
    this.viewA.setStyle({ linked: null });
    this.viewA.setGraph(g, seeds, layout ? { relax: 1, budgetMs: 250, targets } : { relax: 0.2, targets });
    const tDrawn = performance.now();
    if (node !== s.node) {
      this.store.amend({ node });
      this.writeHash(this.store.get());
    }
    this.setCaptions();
    this.restyle();
    this.renderSummary();
    this.drawChart();
    if (this.tracking.data) this.tracking.render();
    const ms = performance.now() - t0;
    this.timings.parts = {
      fetch: tFetched - t0,
      seed: tSeeded - tFetched,
      layoutAndDraw: tDrawn - tSeeded,
      panels: performance.now() - tDrawn,
    };
    this.timings.renders++;
    if (this.timings.firstRender === null) this.timings.firstRender = performance.now() - this.t0;
    else this.timings.lastSwitch = ms;
    this.renderedEpoch = s.epoch;
    document.body.dataset.epoch = String(s.epoch);
    document.body.dataset.layer = s.layer;
    document.body.dataset.ready = "1";
    this.afterShow();
    return true;
  }

  afterShow() {
    if (this.store.get().cmp) this.compare.refresh();
    if (this.store.get().lay || this.layers.extra.size) this.layers.refresh();
    this.projection.refresh();
    this.prefetchLater();
  }

  /** The re-layout button: a fresh packed layout of A (and B laid out again from it). */
  relayout() {
    this.viewA.autoFit = true;
    this.showEpoch({ fresh: true });
  }

  /** Captions of both views, with the health badge of each view's layer. */
  setCaptions() {
    const s = this.store.get();
    const cmp = this.compare.view && this.compare.b;
    this.viewA.setCaption(
      `${cmp ? "A · " : ""}${s.run} / ${s.layer} · epoch ${s.epoch}${remappedMark(this.graph)}`,
      this.health[s.layer] || null,
    );
    if (cmp) {
      const b = this.compare.b;
      const warn = b.run === s.run ? this.health[b.layer] : null;
      this.compare.view.setCaption(
        `B · ${b.run} / ${b.layer} · epoch ${b.epoch}${remappedMark(this.compare.graph)}`,
        warn || null,
      );
    }
    const h = this.health[s.layer];
    this.healthBox.hidden = !h;
    this.healthBox.textContent = h
      ? `⚠ The monitor warned about ${s.layer}:\n${h.all.map(([e, t]) => `epoch ${e}: ${t}`).join("\n")}`
      : "";
  }

  /** Prefetch the neighbouring epochs once the new frame is on screen, so their parsing never delays it. */
  prefetchLater() {
    requestAnimationFrame(() => {
      if (window.requestIdleCallback) window.requestIdleCallback(() => this.prefetch(), { timeout: 500 });
      else setTimeout(() => this.prefetch(), 50);
    });
  }

  prefetch() {
    const { run, layer, epoch } = this.store.get();
    const i = this.epochs.indexOf(epoch);
    const params = this.mapperParams({ run, layer });
    for (const j of [i + 1, i - 1]) {
      if (j >= 0 && j < this.epochs.length) api.graph(run, layer, this.epochs[j], undefined, params).catch(() => {});
    }
  }

  refreshColorModes(g) {
    const modes = colorModes(g);
    const current = this.store.get().color;
    const values = modes.map((m) => m[0]);
    if (!values.includes(current)) this.store.amend({ color: values[0] });
    this.toolbar.setColorModes(modes, this.store.get().color);
  }

  renderSummary() {
    const g = this.graph;
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
    this.syncParams();
    const problems = Object.entries(this.runInfo(this.store.get().run).problems || {});
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

  /** Re-applies colours, focus, tracking and selection to the views, and the side panels that depend on them. */
  restyle() {
    const s = this.store.get();
    const g = this.graph;
    if (!g) return;
    const selectedIndex = s.node === null ? null : g.index.get(s.node) ?? null;
    this.viewA.setStyle({
      colorMode: s.color,
      sizeMode: s.size,
      threshold: s.thr,
      focus: intersectFocus(focusSet(g, s), this.findings.focus(g, s)),
      tracked: s.track.length ? nodesContaining(g, s.track) : null,
      selected: selectedIndex,
    });
    const g2 = this.compare.graph;
    if (this.compare.view && g2) {
      this.compare.view.setStyle({
        colorMode: s.color,
        sizeMode: s.size,
        threshold: s.thr,
        focus: focusSet(g2, s),
        tracked: s.track.length ? nodesContaining(g2, s.track) : null,
      });
    }
    this.layers.restyle();
    this.projection.restyle();
    renderLegend(this.legend, g, s.color, s.cls, (k) => this.update({ cls: k }));
    const info = this.runInfo(s.run);
    renderNodePanel(this.panel, g, selectedIndex, {
      thumbnailUrl: info.thumbnails ? (i) => api.thumbnailUrl(s.run, i) : null,
      onTrack: (members) => this.update({ track: members.slice(0, 500) }),
      onClose: () => this.update({ node: null }),
    });
  }

  /** A node was selected: bring its panel into the side bar's view (it sits below the chart). */
  revealPanel() {
    requestAnimationFrame(() => {
      if (!this.panel.hidden) this.panel.scrollIntoView({ block: "nearest", behavior: "auto" });
    });
  }

  stepEpoch(delta) {
    const i = this.epochs.indexOf(this.store.get().epoch);
    const j = Math.min(this.epochs.length - 1, Math.max(0, i + delta));
    if (j !== i) this.update({ epoch: this.epochs[j] });
  }

  play() {
    if (this.epochs.length < 2) return;
    if (this.epochs.indexOf(this.store.get().epoch) === this.epochs.length - 1) this.update({ epoch: this.epochs[0] });
    this.toolbar.setPlaying(true);
    this.playing = setInterval(() => {
      const i = this.epochs.indexOf(this.store.get().epoch);
      if (i < this.epochs.length - 1) this.update({ epoch: this.epochs[i + 1] });
      if (i + 1 >= this.epochs.length - 1) this.stop();
    }, PLAY_INTERVAL_MS);
  }

  stop() {
    clearInterval(this.playing);
    this.playing = null;
    this.toolbar.setPlaying(false);
  }

  /** TensorBoard's Reload (or ours): drop cached responses, fetch again, keep the selection and the layout. */
  async reload() {
    clearCache();
    this.timings.reloads = (this.timings.reloads || 0) + 1;
    await this.loadRuns();
    return null;
  }
}

/** A route query as one comparable string (which parameters a graph on screen was fetched with). */
function queryKey(query) {
  return JSON.stringify(Object.entries(query).sort());
}

/** True when two graph payloads have the same nodes (by members) and edges: nothing to redraw. */
function sameGraph(a, b) {
  if (a.nodes.length !== b.nodes.length || a.edges.length !== b.edges.length) return false;
  for (let i = 0; i < a.nodes.length; i++) {
    const x = a.nodes[i].members;
    const y = b.nodes[i].members;
    if (a.nodes[i].id !== b.nodes[i].id || x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return a.edges.every((e, i) => e.source === b.edges[i].source && e.target === b.edges[i].target);
}

/** The node of `next` that took the largest share of node `i`'s members in `prev`. */
function successor(prev, next, i) {
  const ov = overlaps(next, prev)[i];
  return ov && ov.length ? next.nodes[ov[0][0]].id : null;
}

/** A small debug and test surface: state, timings, node positions, and a way to click a node. */
function exposeDebug(app) {
  const pick = (view) => (view === "b" ? [app.compare.view, app.compare.graph] : [app.viewA, app.graph]);
  window.__topoact = {
    app,
    get state() {
      return app.store.get();
    },
    get epoch() {
      return app.renderedEpoch ?? null;
    },
    get epochs() {
      return app.epochs.slice();
    },
    get timings() {
      return { ...app.timings };
    },
    graph: () => app.graph,
    nodeCount: (view = "a") => pick(view)[0]?.nodes.length ?? 0,
    /** Client position of the node with server id `id` in view "a" or "b" (iframe viewport coordinates). */
    nodePosition(id, view = "a") {
      const [v, g] = pick(view);
      if (!v || !g || !g.index.has(id)) return null;
      return v.clientPosition(g.index.get(id));
    },
    /** Positions of every node of a view, by id (for layout-stability checks). */
    layout(view = "a") {
      const [v, g] = pick(view);
      if (!v || !g) return {};
      return Object.fromEntries(v.nodes.map((n) => [g.nodes[n.index].id, [n.x, n.y]]));
    },
    /** Selects node `id` as a click would (prefer real clicks at nodePosition in tests). */
    clickNode(id) {
      app.update({ node: id });
    },
    /** Stops the layout animation (for screenshots and timing). */
    settle() {
      for (const v of [app.viewA, app.compare.view, ...app.layers.views()]) if (v) v.finishLayout();
    },
    drawCount: () => app.viewA.drawCount,
    /** Ids of view A's nodes in focus (search, class filter, a finding's nodes), or null when none is dimmed. */
    focused() {
      const f = app.viewA.style.focus;
      return f && app.graph ? [...f].map((i) => app.graph.nodes[i].id).sort((a, b) => a - b) : null;
    },
    /** Node centres outside view "a" or "b" under its current zoom, by side, and the view's size. */
    offscreen(view = "a") {
      const [v] = pick(view);
      if (!v) return null;
      return { ...offscreen(v.nodes, v.transform, v.width, v.height), nodes: v.nodes.length, autoFit: v.autoFit };
    },
    /** Edge crossings of a view's current layout (every edge, whatever the threshold). */
    crossings(view = "a") {
      const [v, g] = pick(view);
      return v && g ? edgeCrossings(v.nodes, g.links) : null;
    },
    /** The projection panel: layer, epoch, method, point count, caption, and the highlighted sample ids (null:
     * none faded). */
    projection: () => app.projection.describe(),
    /** Client positions of the projection's points, by sample id (iframe viewport coordinates). */
    pointPositions: () => app.projection.clientPositions(),
    /** How often compare mode has redrawn B (once per change). */
    compareUpdates: () => app.compare.updates,
    /** Layers mode: each shown view in watch order (layer, epoch, caption, nodes, node centres outside it). */
    layers: () => app.layers.describe(),
    /** Client position of node `id` of `layer`'s view in layers mode. */
    layerNodePosition(layer, id) {
      const e = app.layers.entries().find((x) => x.layer === layer);
      if (!e || !e.graph || !e.graph.index.has(id)) return null;
      return e.view.clientPosition(e.graph.index.get(id));
    },
    /** Indices of ringed (linked) nodes in `layer`'s view, sorted. */
    layerLinked(layer) {
      const e = app.layers.entries().find((x) => x.layer === layer);
      return e && e.view.style.linked ? [...e.view.style.linked].sort((a, b) => a - b) : [];
    },
    /** Indices of nodes in focus (not faded) in `layer`'s view, or null when nothing is faded. */
    layerFocus(layer) {
      const e = app.layers.entries().find((x) => x.layer === layer);
      return e && e.view.style.focus ? [...e.view.style.focus].sort((a, b) => a - b) : null;
    },
    /** Resolves once no request is in flight and the layout has stopped (a quiet page, for timing). */
    async idle() {
      await settled();
      this.settle();
      return true;
    },
    /** Median time of `n` full redraws of view A, in ms. */
    drawMs(n = 15) {
      const v = app.viewA;
      const times = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        v.drawNow();
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[Math.floor(n / 2)];
    },
    /** Median time of `n` layout steps of view A, in ms (the relaxation's other per-frame cost). */
    tickMs(n = 15) {
      const v = app.viewA;
      const times = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        v.sim.tick();
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[Math.floor(n / 2)];
    },
    /** Forgets cached responses (what Reload does before refetching). */
    clearCache,
    /** Fetches (and caches) the graph of `epoch` for the current run and layer. */
    prefetch: (epoch) => {
      const { run, layer } = app.store.get();
      return api.graph(run, layer, epoch, undefined, app.mapperParams({ run, layer })).then(() => true);
    },
  };
}

/** Called once by TensorBoard after importing this module. */
export async function render() {
  const style = document.createElement("style");
  style.textContent = css;
  document.head.appendChild(style);
  const root = el("div", { cls: "topoact", testid: "topoact-root" });
  document.body.appendChild(root);
  const app = new App(root);
  exposeDebug(app);
  await app.start();
}
