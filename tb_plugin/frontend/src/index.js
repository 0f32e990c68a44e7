// Entry point of the TopoAct TensorBoard plugin. TensorBoard loads this module in the plugin's iframe and calls
// render() once. It wires the data side (model.js) to the drawing side (views.js) and the host (host.js).

import css from "./style.css";
import * as host from "./host.js";
import {
  DEFAULTS,
  HttpError,
  Store,
  api,
  clearCache,
  decodeState,
  encodeState,
  focusSet,
  nodesContaining,
  overlaps,
  readOwnHash,
  seedPositions,
  settled,
  snapEpoch,
} from "./model.js";
import {
  GraphView,
  colorModes,
  el,
  renderCompareSummary,
  renderLegend,
  renderMetricChart,
  renderNodePanel,
  renderTrack,
} from "./views.js";

const PLAY_INTERVAL_MS = 1200;

class App {
  constructor(root) {
    this.root = root;
    this.store = new Store();
    this.runs = [];
    this.epochs = [];
    this.epochs2 = [];
    this.graph = null;
    this.graph2 = null;
    this.compare = null;
    this.metrics = null;
    this.trackData = null;
    this.playing = null;
    this.loadToken = 0;
    this.timings = { firstRender: null, lastSwitch: null, renders: 0 };
    this.t0 = performance.now();
    this.build();
  }

  // ---------------------------------------------------------------------------------------------- layout
  build() {
    const c = (tag, opts, kids) => el(tag, opts, kids);
    this.runSel = c("select", { testid: "run-select", title: "Run" });
    this.layerSel = c("select", { testid: "layer-select", title: "Layer" });
    this.playBtn = c("button", { text: "▶", testid: "play", title: "Play through the epochs" });
    this.slider = c("input", { testid: "epoch-slider", attrs: { type: "range", min: "0", max: "0", step: "1", value: "0" } });
    this.epochLabel = c("span", { cls: "epoch-label", testid: "epoch-label" });
    this.colorSel = c("select", { testid: "color-select", title: "Colour nodes by" });
    this.sizeSel = c("select", { testid: "size-select", title: "Node size" });
    for (const [v, t] of [["sqrt", "size ∝ √n"], ["log", "size ∝ log n"]]) this.sizeSel.add(new Option(t, v));
    this.thr = c("input", { testid: "edge-threshold", attrs: { type: "range", min: "0", max: "1", step: "0.01", value: "0" } });
    this.thrLabel = c("span", { cls: "thr-label", testid: "edge-threshold-label" });
    this.search = c("input", {
      testid: "search",
      title: "A class name, a sample id (12 or s12) or a node (#5). Enter on sample ids (12, 40) tracks them.",
      attrs: { type: "search", placeholder: "class, sample id, #node", "aria-label": "Search" },
    });
    this.compareBtn = c("button", { text: "Compare", testid: "compare-toggle", title: "Two graphs side by side" });
    this.refreshBtn = c("button", { text: "⟳", testid: "refresh", title: "Reload data" });
    this.fitBtn = c("button", { text: "Fit", testid: "fit", title: "Fit the graph to the view" });

    this.run2Sel = c("select", { testid: "run2-select", title: "Run B" });
    this.layer2Sel = c("select", { testid: "layer2-select", title: "Layer B" });
    this.epoch2Sel = c("select", { testid: "epoch2-select", title: "Epoch B" });

    const toolbar = c("div", { cls: "toolbar" }, [
      c("label", { text: "Run " }, [this.runSel]),
      c("label", { text: "Layer " }, [this.layerSel]),
      c("span", { cls: "epoch-box" }, [this.playBtn, c("label", { text: "Epoch " }, [this.slider]), this.epochLabel]),
      c("label", { text: "Colour " }, [this.colorSel]),
      this.sizeSel,
      c("label", { text: "Edges ≥ ", title: "Hide edges whose Jaccard weight is below this" }, [this.thr, this.thrLabel]),
      this.search,
      this.compareBtn,
      this.fitBtn,
      this.refreshBtn,
    ]);
    this.compareBar = c("div", { cls: "toolbar compare-bar", testid: "compare-bar" }, [
      c("strong", { text: "B: " }),
      c("label", { text: "Run " }, [this.run2Sel]),
      c("label", { text: "Layer " }, [this.layer2Sel]),
      c("label", { text: "Epoch " }, [this.epoch2Sel]),
    ]);
    this.compareBar.hidden = true;

    this.graphs = c("div", { cls: "graphs" });
    this.status = c("div", { cls: "status", testid: "status" });
    this.status.hidden = true;
    const main = c("div", { cls: "main" }, [this.graphs, this.status]);

    this.legend = c("div", { cls: "legend", testid: "legend" });
    this.metricSel = c("select", { testid: "metric-select", title: "Metric" });
    this.chart = c("div", { cls: "chart-box" });
    this.summary = c("div", { cls: "graph-summary", testid: "graph-summary" });
    this.compareSummary = c("div", { cls: "card compare-summary", testid: "compare-summary" });
    this.compareSummary.hidden = true;
    this.trackBox = c("div", { cls: "card track-box", testid: "track-box" });
    this.trackBox.hidden = true;
    this.panel = c("div", { cls: "card node-panel", testid: "node-panel" });
    this.panel.hidden = true;
    const help = c("details", { cls: "card help" }, [
      c("summary", { text: "How to read a graph" }),
      ...[
        "Each node is a cluster of probe samples whose activations are close, found within one slice of the lens (cover element). Its area grows with its member count.",
        "An edge joins two nodes that share samples; thicker edges share more (Jaccard weight). Use the Edges slider to hide weak ones.",
        "Colours: pies show the class mix of a node's members; a pure node is one colour. Other modes colour by purity, accuracy, loss or mean lens.",
        "As training goes on, a class that separates shows up as its own branch or component; mixed nodes are where the network still confuses classes.",
        "Move the epoch slider: nodes keep their place when their members stay together, so splits, merges and new branches stand out.",
      ].map((t) => c("p", { text: t })),
    ]);
    const side = c("div", { cls: "side" }, [
      this.summary,
      this.legend,
      c("div", { cls: "card" }, [c("div", { cls: "section-title" }, [c("span", { text: "Metric " }), this.metricSel]), this.chart]),
      this.compareSummary,
      this.trackBox,
      this.panel,
      help,
    ]);
    this.body = c("div", { cls: "body" }, [main, side]);
    this.root.append(toolbar, this.compareBar, this.body);

    this.viewA = new GraphView(this.graphs, {
      testid: "graph-a",
      onClick: (i) => this.selectNode(i === null ? null : this.graph.nodes[i].id),
      onHover: (i) => this.linkHover("a", i),
    });
    this.viewB = null;
    this.bindControls();
  }

  bindControls() {
    const s = this.store;
    this.runSel.addEventListener("change", () => s.set({ run: this.runSel.value, node: null }));
    this.layerSel.addEventListener("change", () => s.set({ layer: this.layerSel.value, node: null }));
    this.slider.addEventListener("input", () => {
      const e = this.epochs[Number(this.slider.value)];
      if (e !== undefined) s.set({ epoch: e });
    });
    this.playBtn.addEventListener("click", () => (this.playing ? this.stop() : this.play()));
    this.colorSel.addEventListener("change", () => s.set({ color: this.colorSel.value }));
    this.sizeSel.addEventListener("change", () => s.set({ size: this.sizeSel.value }));
    this.thr.addEventListener("input", () => s.set({ thr: Number(this.thr.value) }));
    this.search.addEventListener("input", () => s.set({ q: this.search.value }));
    this.search.addEventListener("keydown", (ev) => {
      // Enter on a list of sample ids ("12, 40, s7") tracks those samples across epochs.
      if (ev.key !== "Enter") return;
      const tokens = this.search.value.split(/[\s,]+/).filter(Boolean);
      if (!tokens.length || !tokens.every((t) => /^s?\d+$/i.test(t))) return;
      const samples = [...new Set(tokens.map((t) => parseInt(t.replace(/^s/i, ""), 10)))];
      s.set({ track: samples, q: "" });
    });
    this.compareBtn.addEventListener("click", () => s.set({ cmp: !s.get().cmp }));
    this.refreshBtn.addEventListener("click", () => this.reload());
    this.fitBtn.addEventListener("click", () => {
      this.viewA.fit();
      if (this.viewB) this.viewB.fit();
    });
    this.run2Sel.addEventListener("change", () => s.set({ run2: this.run2Sel.value }));
    this.layer2Sel.addEventListener("change", () => s.set({ layer2: this.layer2Sel.value }));
    this.epoch2Sel.addEventListener("change", () => s.set({ epoch2: Number(this.epoch2Sel.value) }));
    this.metricSel.addEventListener("change", () => s.set({ metric: this.metricSel.value }));
    window.addEventListener("keydown", (ev) => {
      // Form controls handle their own keys (a focused epoch slider already steps with the arrows).
      if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
      if (ev.key === "ArrowRight") this.stepEpoch(1);
      else if (ev.key === "ArrowLeft") this.stepEpoch(-1);
      else if (ev.key === "Escape") s.set({ node: null });
    });
    s.subscribe((state, changed) => this.onState(state, changed));
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
    this.syncControls(this.store.get());
    await this.loadRuns();
  }

  applyTheme(dark) {
    document.body.classList.toggle("dark", dark);
    const cs = getComputedStyle(document.body);
    const v = (name) => cs.getPropertyValue(name).trim();
    const theme = { fg: v("--fg"), bg: v("--bg"), edge: v("--edge-rgb"), accent: v("--accent"), select: v("--select") };
    this.viewA.setTheme(theme);
    if (this.viewB) this.viewB.setTheme(theme);
    this.theme = theme;
  }

  onState(state, changed) {
    this.writeHash(state);
    this.syncControls(state);
    if (changed.has("run") || changed.has("layer")) {
      this.loadEpochs();
      return;
    }
    if (changed.has("epoch")) this.showEpoch();
    if (changed.has("cmp") || changed.has("run2") || changed.has("layer2") || changed.has("epoch2")) this.updateCompare();
    if (changed.has("track")) this.updateTrack();
    if (["color", "size", "thr", "cls", "q", "node", "track"].some((k) => changed.has(k))) this.restyle();
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

  syncControls(state) {
    if (this.runSel.value !== state.run) this.runSel.value = state.run;
    if (this.layerSel.value !== state.layer) this.layerSel.value = state.layer;
    const idx = this.epochs.indexOf(state.epoch);
    if (idx >= 0) this.slider.value = String(idx);
    this.epochLabel.textContent = state.epoch === null ? "–" : `${state.epoch}${this.epochs.length ? ` / ${this.epochs[this.epochs.length - 1]}` : ""}`;
    if ([...this.colorSel.options].some((o) => o.value === state.color)) this.colorSel.value = state.color;
    this.sizeSel.value = state.size;
    this.thr.value = String(state.thr);
    this.thrLabel.textContent = Number(state.thr).toFixed(2);
    if (this.search.value !== state.q) this.search.value = state.q;
    this.compareBtn.classList.toggle("active", state.cmp);
    this.compareBtn.setAttribute("aria-pressed", String(state.cmp));
    this.compareBar.hidden = !state.cmp;
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

  async loadRuns() {
    let runs;
    try {
      runs = await api.runs();
    } catch (e) {
      this.showError(e, "the list of runs");
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
    fillSelect(this.runSel, this.runs.map((r) => r.run));
    fillSelect(this.run2Sel, this.runs.map((r) => r.run));
    const s = this.store.get();
    const run = this.runs.some((r) => r.run === s.run) ? s.run : this.runs[0].run;
    const layers = this.runInfo(run).layers;
    const layer = layers.includes(s.layer) ? s.layer : layers[0];
    this.store.amend({ run, layer });
    this.syncControls(this.store.get());
    await this.loadEpochs();
  }

  runInfo(run) {
    return this.runs.find((r) => r.run === run) || { run, layers: [], thumbnails: false };
  }

  async loadEpochs() {
    const token = ++this.loadToken;
    const { run, layer } = this.store.get();
    const info = this.runInfo(run);
    fillSelect(this.layerSel, info.layers);
    if (!info.layers.includes(layer)) {
      this.store.set({ layer: info.layers[0] || "" });
      return;
    }
    this.layerSel.value = layer;
    let resp;
    try {
      resp = await api.epochs(run, layer);
    } catch (e) {
      if (token === this.loadToken) this.showError(e, `the epochs of ${run} / ${layer}`);
      return;
    }
    if (token !== this.loadToken) return;
    const previous = this.epochs;
    this.epochs = resp.epochs || [];
    // Watching the latest epoch while training runs: stay on the latest when a reload brings a newer one.
    const current = this.store.get().epoch;
    if (previous.length && current === previous[previous.length - 1] && this.epochs.length > previous.length) {
      this.store.amend({ epoch: this.epochs[this.epochs.length - 1] });
    }
    this.slider.max = String(Math.max(0, this.epochs.length - 1));
    this.slider.disabled = this.epochs.length < 2;
    this.playBtn.disabled = this.epochs.length < 2;
    if (!this.epochs.length) {
      this.showStatus("empty", `No graphs logged yet for ${layer}`, "Graphs appear after the first monitored epoch.");
      return;
    }
    const epoch = snapEpoch(this.epochs, this.store.get().epoch);
    this.store.amend({ epoch });
    this.syncControls(this.store.get());
    this.loadMetrics(run, layer);
    await this.showEpoch();
    if (this.store.get().cmp) this.updateCompare();
    if (this.store.get().track.length) this.updateTrack();
  }

  async loadMetrics(run, layer) {
    try {
      this.metrics = await api.metrics(run, layer);
    } catch (e) {
      this.metrics = null;
      console.warn("topoact: metrics unavailable:", e.message);
    }
    const names = this.metrics ? Object.keys(this.metrics.metrics || {}) : [];
    fillSelect(this.metricSel, names);
    const s = this.store.get();
    if (!names.includes(s.metric)) {
      this.store.amend({ metric: names.includes("purity") ? "purity" : names[0] || "" });
    }
    this.metricSel.value = this.store.get().metric;
    this.drawChart();
  }

  drawChart() {
    const s = this.store.get();
    renderMetricChart(this.chart, this.metrics, s.metric, s.epoch, (e) => this.store.set({ epoch: e }));
  }

  /** Fetch the current epoch's graph and show it, starting from where the corresponding nodes are now. */
  async showEpoch() {
    const token = ++this.loadToken;
    const s = this.store.get();
    if (s.epoch === null) return;
    const t0 = performance.now();
    // The running relaxation would compete with fetching and seeding for the main thread; the new graph's own
    // relaxation starts from the positions it has reached.
    this.viewA.sim.stop();
    let g;
    try {
      g = await api.graph(s.run, s.layer, s.epoch);
    } catch (e) {
      if (token === this.loadToken) this.showError(e, `the graph of ${s.run} / ${s.layer} at epoch ${s.epoch}`);
      return;
    }
    if (token !== this.loadToken) return;
    const tFetched = performance.now();
    const prev = this.graph;
    if (prev && prev !== g && sameGraph(prev, g)) {
      // A reload (TensorBoard refreshes every 30 s) that brought the same graph: keep the picture as it is.
      this.graph = g;
      this.viewA.graph = g;
      this.viewA.sim.restart();
      this.restyle();
      this.timings.renders++;
      this.renderedEpoch = s.epoch;
      this.prefetchLater();
      return;
    }
    const first = !prev || !this.viewA.nodes.length;
    const seeds = seedPositions(first ? null : prev, first ? null : this.viewA.positions(), g);
    const tSeeded = performance.now();
    // Keep the selected node in view across epochs: follow it to the node that took most of its members.
    let node = s.node;
    if (prev && prev !== g && node !== null && prev.index.has(node)) node = successor(prev, g, prev.index.get(node));
    else if (node !== null && !g.index.has(node)) node = null;
    this.graph = g;
    this.showStatus(null);
    this.refreshColorModes(g);
    if (!g.nodes.length) this.showStatus("empty", "This graph has no nodes", "Every sample was left unassigned: try other Mapper parameters.");
    this.viewA.setGraph(g, seeds, first ? { relax: 1, budgetMs: 250, fit: true } : { relax: 0.2 });
    const tDrawn = performance.now();
    this.viewA.caption.textContent = `A · ${s.run} / ${s.layer} · epoch ${s.epoch}`;
    if (node !== s.node) {
      this.store.amend({ node });
      this.writeHash(this.store.get());
    }
    this.restyle();
    this.renderSummary();
    this.drawChart();
    if (this.trackData) this.renderTrackBox();
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
    document.body.dataset.ready = "1";
    if (this.store.get().cmp) this.updateCompare();
    this.prefetchLater();
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
    for (const j of [i + 1, i - 1]) {
      if (j >= 0 && j < this.epochs.length) api.graph(run, layer, this.epochs[j]).catch(() => {});
    }
  }

  refreshColorModes(g) {
    const modes = colorModes(g);
    const current = this.store.get().color;
    const values = modes.map((m) => m[0]);
    this.colorSel.textContent = "";
    for (const [v, t] of modes) this.colorSel.add(new Option(t, v));
    if (!values.includes(current)) this.store.amend({ color: values[0] });
    this.colorSel.value = this.store.get().color;
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
  }

  /** Re-applies colours, focus, tracking and selection to the views, and the side panels that depend on them. */
  restyle() {
    const s = this.store.get();
    const g = this.graph;
    if (!g) return;
    const tracked = s.track.length ? nodesContaining(g, s.track) : null;
    const selectedIndex = s.node === null ? null : g.index.get(s.node) ?? null;
    this.viewA.setStyle({
      colorMode: s.color,
      sizeMode: s.size,
      threshold: s.thr,
      focus: focusSet(g, s),
      tracked,
      selected: selectedIndex,
    });
    if (this.viewB && this.graph2) {
      this.viewB.setStyle({
        colorMode: s.color,
        sizeMode: s.size,
        threshold: s.thr,
        focus: focusSet(this.graph2, s),
        tracked: s.track.length ? nodesContaining(this.graph2, s.track) : null,
      });
    }
    renderLegend(this.legend, g, s.color, s.cls, (k) => this.store.set({ cls: k }));
    const info = this.runInfo(s.run);
    renderNodePanel(this.panel, g, selectedIndex, {
      thumbnailUrl: info.thumbnails ? (i) => api.thumbnailUrl(s.run, i) : null,
      onTrack: (members) => this.store.set({ track: members.slice(0, 500) }),
      onClose: () => this.store.set({ node: null }),
    });
  }

  selectNode(id) {
    this.store.set({ node: id });
  }

  stepEpoch(delta) {
    const i = this.epochs.indexOf(this.store.get().epoch);
    const j = Math.min(this.epochs.length - 1, Math.max(0, i + delta));
    if (j !== i) this.store.set({ epoch: this.epochs[j] });
  }

  play() {
    if (this.epochs.length < 2) return;
    if (this.epochs.indexOf(this.store.get().epoch) === this.epochs.length - 1) this.store.set({ epoch: this.epochs[0] });
    this.playBtn.textContent = "❚❚";
    this.playBtn.title = "Pause";
    this.playing = setInterval(() => {
      const i = this.epochs.indexOf(this.store.get().epoch);
      if (i < this.epochs.length - 1) this.store.set({ epoch: this.epochs[i + 1] });
      if (i + 1 >= this.epochs.length - 1) this.stop();
    }, PLAY_INTERVAL_MS);
  }

  stop() {
    clearInterval(this.playing);
    this.playing = null;
    this.playBtn.textContent = "▶";
    this.playBtn.title = "Play through the epochs";
  }

  /** TensorBoard's Reload (or ours): drop cached responses, fetch again, keep the selection. */
  async reload() {
    clearCache();
    this.timings.reloads = (this.timings.reloads || 0) + 1;
    // The selection, epoch and layout stay: the fresh graph is seeded from the one on screen.
    await this.loadRuns();
    return null;
  }

  // ------------------------------------------------------------------------------------------------ tracking
  async updateTrack() {
    const s = this.store.get();
    if (!s.track.length) {
      this.trackData = null;
      renderTrack(this.trackBox, [], null, null, {});
      return;
    }
    this.trackData = null;
    this.renderTrackBox();
    try {
      this.trackData = await api.track(s.run, s.layer, s.track);
    } catch (e) {
      console.warn("topoact: track failed:", e.message);
      this.trackData = { epochs: [], nodes: {} };
    }
    this.renderTrackBox();
  }

  renderTrackBox() {
    const s = this.store.get();
    renderTrack(this.trackBox, s.track, this.trackData, s.epoch, {
      onClear: () => this.store.set({ track: [] }),
      onPick: (e) => this.store.set({ epoch: e }),
    });
  }

  // ------------------------------------------------------------------------------------------------- compare
  async updateCompare() {
    const s = this.store.get();
    if (!s.cmp) {
      if (this.viewB) {
        this.viewB.destroy();
        this.viewB = null;
      }
      this.graph2 = null;
      this.compare = null;
      this.graphs.classList.remove("split");
      this.compareSummary.hidden = true;
      this.viewA.caption.textContent = "";
      return;
    }
    if (!this.graph) return;
    const token = (this.compareToken = (this.compareToken || 0) + 1);
    const run2 = this.runs.some((r) => r.run === s.run2) ? s.run2 : s.run;
    const layers2 = this.runInfo(run2).layers;
    const layer2 = layers2.includes(s.layer2) ? s.layer2 : layers2.includes(s.layer) ? s.layer : layers2[0];
    fillSelect(this.layer2Sel, layers2);
    this.run2Sel.value = run2;
    this.layer2Sel.value = layer2;
    let epochs2;
    try {
      epochs2 = (await api.epochs(run2, layer2)).epochs || [];
    } catch (e) {
      if (token === this.compareToken) this.compareError(e);
      return;
    }
    if (token !== this.compareToken) return;
    this.epochs2 = epochs2;
    fillSelect(this.epoch2Sel, epochs2.map(String));
    let epoch2 = s.epoch2;
    if (epoch2 === null || !epochs2.includes(epoch2)) {
      const last = epochs2[epochs2.length - 1];
      epoch2 = last !== s.epoch || run2 !== s.run || layer2 !== s.layer ? last : epochs2[0];
    }
    this.epoch2Sel.value = String(epoch2);
    const a = { run: s.run, layer: s.layer, epoch: s.epoch };
    const b = { run: run2, layer: layer2, epoch: epoch2 };
    let g2;
    let cmp;
    try {
      [g2, cmp] = await Promise.all([api.graph(b.run, b.layer, b.epoch), api.compare(a, b)]);
    } catch (e) {
      if (token === this.compareToken) this.compareError(e);
      return;
    }
    if (token !== this.compareToken || !this.store.get().cmp) return;
    if (!this.viewB) {
      this.graphs.classList.add("split");
      this.viewB = new GraphView(this.graphs, {
        testid: "graph-b",
        onClick: (i) => {
          // A click in B selects the A node it came from, if any.
          if (i === null || !this.compare) return;
          const id = this.graph2.nodes[i].id;
          const m = this.compare.matches.filter((x) => x[1] === id).sort((p, q) => q[2] - p[2])[0];
          if (m) this.selectNode(m[0]);
        },
        onHover: (i) => this.linkHover("b", i),
      });
      if (this.theme) this.viewB.setTheme(this.theme);
    }
    const prevB = this.graph2;
    this.graph2 = g2;
    this.compare = cmp;
    // B starts where its nodes' counterparts sit in A (or where they sat in the previous B), then relaxes.
    if (g2 !== prevB) {
      const seeds =
        prevB && this.viewB.nodes.length
          ? seedPositions(prevB, this.viewB.positions(), g2)
          : seedPositions(this.graph, this.viewA.positions(), g2);
      this.viewB.setGraph(g2, seeds, { relax: 0.3 });
    }
    if (!prevB) this.viewB.setTransform(this.viewA.transform);
    this.viewA.caption.textContent = `A · ${s.run} / ${s.layer} · epoch ${s.epoch}`;
    this.viewB.caption.textContent = `B · ${b.run} / ${b.layer} · epoch ${b.epoch}`;
    this.compareSummary.hidden = false;
    renderCompareSummary(this.compareSummary, cmp, (aIds, bIds) => this.highlightPair(aIds, bIds));
    this.restyle();
    document.body.dataset.compareReady = `${s.epoch}:${b.epoch}`;
  }

  /** A comparison that cannot be made (e.g. runs with different probe sets): say why beside A, keep A. */
  compareError(e) {
    if (this.viewB) {
      this.viewB.destroy();
      this.viewB = null;
    }
    this.graph2 = null;
    this.compare = null;
    this.graphs.classList.remove("split");
    this.compareSummary.hidden = false;
    this.compareSummary.textContent = "";
    this.compareSummary.append(
      el("div", { cls: "status-title error-text", text: "Cannot compare these graphs" }),
      el("div", { cls: "muted", testid: "compare-error", text: e && e.message ? e.message : String(e) }),
    );
  }

  /** Hovering a node in one view lights up its matches in the other. */
  linkHover(side, i) {
    if (!this.viewB || !this.compare) return;
    if (i === null) {
      this.highlightPair(null, null);
      return;
    }
    if (side === "a") {
      const id = this.graph.nodes[i].id;
      this.highlightPair(null, this.compare.matches.filter((m) => m[0] === id).map((m) => m[1]));
    } else {
      const id = this.graph2.nodes[i].id;
      this.highlightPair(this.compare.matches.filter((m) => m[1] === id).map((m) => m[0]), null);
    }
  }

  highlightPair(aIds, bIds) {
    const toIdx = (g, ids) => (ids && ids.length ? new Set(ids.map((id) => g.index.get(id)).filter((x) => x !== undefined)) : null);
    this.viewA.setStyle({ linked: toIdx(this.graph, aIds) });
    if (this.viewB) this.viewB.setStyle({ linked: toIdx(this.graph2, bIds) });
  }
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

function fillSelect(select, values) {
  const current = select.value;
  const same = select.options.length === values.length && [...select.options].every((o, i) => o.value === values[i]);
  if (same) return;
  select.textContent = "";
  for (const v of values) select.add(new Option(v, v)); // Option(text, value) sets text, never markup
  if (values.includes(current)) select.value = current;
}

/** A small debug and test surface: state, timings, node positions, and a way to click a node. */
function exposeDebug(app) {
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
    nodeCount: (view = "a") => ((view === "b" ? app.viewB : app.viewA)?.nodes.length ?? 0),
    /** Client position of the node with server id `id` in view "a" or "b" (iframe viewport coordinates). */
    nodePosition(id, view = "a") {
      const v = view === "b" ? app.viewB : app.viewA;
      const g = view === "b" ? app.graph2 : app.graph;
      if (!v || !g || !g.index.has(id)) return null;
      return v.clientPosition(g.index.get(id));
    },
    /** Positions of every node of a view, by id (for layout-stability checks). */
    layout(view = "a") {
      const v = view === "b" ? app.viewB : app.viewA;
      const g = view === "b" ? app.graph2 : app.graph;
      if (!v || !g) return {};
      return Object.fromEntries(v.nodes.map((n) => [g.nodes[n.index].id, [n.x, n.y]]));
    },
    /** Selects node `id` as a click would (prefer real clicks at nodePosition in tests). */
    clickNode(id) {
      app.selectNode(id);
    },
    /** Stops the layout animation (for screenshots and timing). */
    settle() {
      for (const v of [app.viewA, app.viewB]) if (v) v.finishLayout();
    },
    drawCount: () => app.viewA.drawCount,
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
    prefetch: (epoch) => api.graph(app.store.get().run, app.store.get().layer, epoch).then(() => true),
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
