// The tab: one Store (state.js) that everything reads and `set` alone writes, and the page built around it. Every
// change reaches `onState` once: the URL is written, each loader compares what it should load with what it has
// (loaders.js), and each part of the page redraws what the change touches. The parts: the toolbar (toolbar.js),
// view A (mainview.js), compare mode (compare.js), layers mode (layers.js), the projection (projection.js), and
// the side bar (sidebar.js).

import { api, clearCache, isAbort } from "./api.js";
import { errorStatus } from "./loaders.js";
import { CompareController } from "./compare.js";
import { el } from "./dom.js";
import * as host from "./host.js";
import { LayersController } from "./layers.js";
import { MainView } from "./mainview.js";
import { toggleMode } from "./modes.js";
import { parseSpec } from "./params.js";
import { ProjectionController } from "./projection.js";
import { ProgressLine } from "./progress.js";
import { SideBar } from "./sidebar.js";
import { DEFAULTS, Store, decodeState, encodeState, readOwnHash } from "./state.js";
import { Toolbar } from "./toolbar.js";

const PLAY_INTERVAL_MS = 1200;

export class App {
  constructor(root) {
    this.root = root;
    this.store = new Store();
    this.set = (patch) => this.store.set(patch);
    this.update = this.set; // the name benchmarks and older tests use
    this.timings = { firstRender: null, lastSwitch: null, renders: 0, reloads: 0 };
    this.t0 = performance.now();
    this.playing = null;
    this.build();
  }

  build() {
    this.toolbar = new Toolbar({
      set: this.set,
      state: () => this.store.get(),
      actions: {
        play: () => (this.store.get().playing ? this.stop() : this.play()),
        mode: (m) => this.set(toggleMode(this.store.get(), m)),
        fit: () => {
          for (const v of this.views()) v.fit();
        },
        reload: () => this.reload(),
      },
    });
    this.graphs = el("div", { cls: "graphs" });
    this.status = el("div", { cls: "status", testid: "status" });
    this.status.hidden = true;
    this.progress = new ProgressLine();
    this.mainBox = el("div", { cls: "main" }, [this.graphs, this.status, this.progress.element]);
    this.side = new SideBar(this);
    this.layers = new LayersController(this);
    this.root.append(this.toolbar.element, this.toolbar.compareBar, this.layers.bar, el("div", { cls: "body" }, [this.mainBox, this.side.element]));
    this.main = new MainView(this);
    this.compare = new CompareController(this);
    this.projection = new ProjectionController(this);
    this.loaders = [...this.main.loaders, this.compare.loader, ...this.layers.loaders, this.projection.loader, this.side.loader];
    // The graphs' area sets the panes' sizes, and so the shape layouts are packed to.
    new ResizeObserver(() => this.measure()).observe(this.mainBox);
    window.addEventListener("keydown", (ev) => this.onKey(ev), true);
    this.store.subscribe((state, changed, before) => this.onState(state, changed, before));
  }

  measure() {
    const width = Math.round(this.mainBox.clientWidth);
    const height = Math.round(this.mainBox.clientHeight);
    const m = this.store.get().main;
    if (width !== m.width || height !== m.height) this.set({ main: { width, height } });
  }

  /** Every graph view on screen: A, compare's other graph, layers mode's panels. */
  views() {
    return [this.main.view, this.compare.view, ...this.layers.views()].filter(Boolean);
  }

  // The arrow keys step epochs wherever the focus is, except in a text field (where they move the caret):
  // captured before a focused select or slider would change its own value with them.
  onKey(ev) {
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
      this.set({ node: null, psel: [] });
    }
  }

  async start() {
    host.connect();
    host.listen("experimental.DataReloaded", () => this.reload());
    host.listen("experimental.RunsChanged", () => null);
    this.applyTheme(host.watchDarkMode((dark) => this.applyTheme(dark)));
    this.measure();
    // The parameters' rules come first: the URL's parameters are checked against them.
    const [spec, runs] = await Promise.allSettled([api.params(), api.runs()]);
    let parsed = null;
    let specError = null;
    try {
      if (spec.status === "rejected") throw spec.reason;
      parsed = parseSpec(spec.value);
    } catch (e) {
      specError = `the server did not state its parameter limits (${e && e.message ? e.message : e})`;
    }
    const fromParent = decodeState(host.readParentHashState(), parsed);
    const fromOwn = decodeState(readOwnHash(window.location.hash), parsed);
    const initial = Object.keys(fromParent).length ? fromParent : fromOwn;
    this.set({ ...initial, spec: parsed, specError, ...this.runsPatch(runs, initial.run) });
  }

  /**
   * The runs route's answer (a settled promise) as a patch: the runs with graphs and the run to show (`wanted` if
   * it is one of them, else the first), or a status saying why there are none.
   */
  runsPatch(result, wanted = this.store.get().run) {
    if (result.status === "rejected") {
      if (isAbort(result.reason)) return {};
      return { status: errorStatus(result.reason, "the list of runs", "runs") };
    }
    const all = Array.isArray(result.value) ? result.value : [];
    const runs = all.filter((r) => r.layers && r.layers.length);
    const broken = all.filter((r) => !(r.layers && r.layers.length) && r.problems && Object.keys(r.problems).length);
    const s = this.store.get();
    const run = runs.some((r) => r.run === wanted) ? wanted : runs.length ? runs[0].run : wanted;
    if (!runs.length && broken.length) {
      const lines = broken.flatMap((r) => Object.entries(r.problems).map(([tag, msg]) => `${r.run} / ${tag}: ${msg}`));
      return { runs, status: { kind: "error", title: "TopoAct data found, but none of it is readable", detail: lines.join("\n"), source: "runs" } };
    }
    if (!runs.length) {
      const detail =
        "Add TopoActMonitor(layers=[...]) to your Trainer's callbacks, train with a TensorBoardLogger writing under this logdir, then press Reload.";
      return { runs, status: { kind: "empty", title: "No TopoAct data yet", detail, source: "runs" } };
    }
    return { runs, run, status: s.status && s.status.source === "runs" ? null : s.status };
  }

  onState(state, changed, before) {
    if (Object.keys(DEFAULTS).some((k) => changed.has(k))) this.writeHash(state);
    for (const loader of this.loaders) loader.sync(state);
    this.toolbar.sync(state, changed);
    this.main.render(state, changed, before);
    this.compare.render(state, changed);
    this.layers.render(state, changed);
    this.projection.render(state, changed);
    this.side.render(state, changed);
    if (changed.has("tasks")) this.progress.render(state.tasks);
    if (changed.has("status")) this.showStatus(state.status);
    if (changed.has("playing") && !state.playing) this.stop();
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

  showStatus(status) {
    this.status.textContent = "";
    this.status.hidden = !status;
    if (!status) return;
    this.status.className = `status ${status.kind}`;
    this.status.dataset.kind = status.kind;
    this.status.appendChild(el("div", { cls: "status-title", text: status.title }));
    if (status.detail) this.status.appendChild(el("div", { cls: "status-detail", text: status.detail }));
  }

  applyTheme(dark) {
    document.body.classList.toggle("dark", dark);
    const cs = getComputedStyle(document.body);
    const v = (name) => cs.getPropertyValue(name).trim();
    this.theme = { fg: v("--fg"), bg: v("--bg"), edge: v("--edge-rgb"), accent: v("--accent"), select: v("--select") };
    for (const view of this.views ? this.views() : []) view.setTheme(this.theme);
    if (this.projection) this.projection.draw();
  }

  stepEpoch(delta) {
    const { epochs, epoch } = this.store.get();
    const i = epochs.indexOf(epoch);
    const j = Math.min(epochs.length - 1, Math.max(0, i + delta));
    if (j !== i) this.set({ epoch: epochs[j] });
  }

  play() {
    const { epochs, epoch } = this.store.get();
    if (epochs.length < 2) return;
    this.set({ playing: true, ...(epochs.indexOf(epoch) === epochs.length - 1 ? { epoch: epochs[0] } : {}) });
    clearInterval(this.playing);
    this.playing = setInterval(() => {
      const s = this.store.get();
      const i = s.epochs.indexOf(s.epoch);
      if (i < s.epochs.length - 1) this.set({ epoch: s.epochs[i + 1] });
      if (i + 1 >= s.epochs.length - 1) this.stop();
    }, PLAY_INTERVAL_MS);
  }

  stop() {
    clearInterval(this.playing);
    this.playing = null;
    if (this.store.get().playing) this.set({ playing: false });
  }

  /** TensorBoard's Reload (or ours): drop cached responses and fetch everything again; the view stays. */
  async reload() {
    clearCache();
    this.timings.reloads++;
    const runs = await Promise.allSettled([api.runs()]);
    this.set((s) => ({ ...this.runsPatch(runs[0]), reloads: s.reloads + 1 }));
    return null;
  }
}

