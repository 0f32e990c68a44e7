// Layers mode: two or three layers of the current run side by side at the same epoch (TopoAct's cross-layer
// view), sharing the class filter, the search, tracked samples and the epoch slider. The current layer stays in
// view A; the other chosen layers get views of their own, in watch order. Panels keep a readable size (frame.js
// panelsPerRow): those that do not fit beside each other are reached by scrolling sideways. Each panel shows its
// layer's own layout at that epoch (layoutchain.js), framed on that layer's layouts over its epochs. Hovering or
// selecting a node in one view rings, in the others, the nodes holding its samples.

import { api } from "./api.js";
import { el } from "./dom.js";
import { aspectStep } from "./frame.js";
import { EMPTY_GRAPH, linkedNodes } from "./graph.js";
import { GraphView } from "./graphview.js";
import { tweenFrom } from "./layoutchain.js";
import { Loader, layerChain } from "./loaders.js";
import { viewStyle } from "./mainview.js";
import { modeOf, paneSize, queryFor, shownLayers } from "./modes.js";
import { remappedMark } from "./params.js";
import { runInfo, snapEpoch } from "./state.js";
import { fillSelect } from "./toolbar.js";

const NONE = "";
const STYLE_KEYS = ["layers", "color", "size", "thr", "cls", "q", "track", "psel", "graph", "node", "lpin"];

export class LayersController {
  constructor(app) {
    this.app = app;
    /** layer -> view, for the views besides A. */
    this.extra = new Map();
    this.updates = 0;
    this.selects = [0, 1, 2].map((i) =>
      el("select", { testid: `layers-select-${i}`, title: i === 2 ? "Third layer (or none)" : `Layer ${i + 1}` }),
    );
    this.selects.forEach((sel) => sel.addEventListener("change", () => this.choose()));
    this.hint = el("span", { cls: "muted", testid: "layers-hint" });
    this.bar = el("div", { cls: "toolbar layers-bar", testid: "layers-bar" }, [
      el("strong", { text: "Layers: " }),
      ...this.selects,
      this.hint,
    ]);
    this.bar.hidden = true;
    const store = app.store;
    this.loaders = [
      new Loader(store, {
        want: (s) => {
          if (modeOf(s) !== "layers" || !s.graph || !s.layoutA) return null;
          const shown = shownLayers(runInfo(s, s.run).layers, s.layer, s.lays);
          const pane = paneSize(s);
          const others = shown.filter((l) => l !== s.layer).map((layer) => ({ layer, query: queryFor(s, { run: s.run, layer }) }));
          return { run: s.run, shown, others, epoch: s.layoutA.epoch, size: s.size, aspect: aspectStep(pane.width, pane.height), reloads: s.reloads };
        },
        load: (w, signal) => this.load(w, signal),
      }),
    ];
  }

  /** Each other layer's graph at the epoch (the nearest logged one) and its layout over its epochs. */
  async load(w, signal) {
    const panels = await Promise.all(
      w.others.map(async ({ layer, query }) => {
        const epochs = (await api.epochs(w.run, layer, signal)).epochs || [];
        const epoch = snapEpoch(epochs, w.epoch);
        if (epoch === null) return { layer, epoch, graph: null, positions: [], box: null };
        const want = { run: w.run, layer, epochs, query, size: w.size, aspect: w.aspect };
        const { chain } = await layerChain(this.app.store, want, signal, `layer:${layer}`);
        const step = chain.steps.find((x) => x.epoch === epoch);
        return { layer, epoch, graph: step.graph, positions: step.positions, box: chain.box() };
      }),
    );
    return { layers: Object.freeze({ epoch: w.epoch, shown: w.shown, panels }) };
  }

  /** The layer pickers changed: the new set (the current layer kept in it, or the first chosen one becomes it). */
  choose() {
    const s = this.app.store.get();
    const layers = runInfo(s, s.run).layers;
    const picked = [...new Set(this.selects.map((x) => x.value).filter((v) => v !== NONE && layers.includes(v)))];
    const ordered = layers.filter((l) => picked.includes(l));
    const layer = ordered.includes(s.layer) ? s.layer : ordered[0] || s.layer;
    this.app.set({ lays: ordered.join(","), layer, node: layer === s.layer ? s.node : null });
  }

  render(state, changed) {
    const app = this.app;
    const on = modeOf(state) === "layers";
    this.bar.hidden = !on;
    if (!on) {
      if (this.active) this.close();
      return;
    }
    const layers = runInfo(state, state.run).layers;
    const shown = shownLayers(layers, state.layer, state.lays);
    if (!this.active) {
      this.active = true;
      app.graphs.classList.add("layers");
    }
    const pane = paneSize(state);
    app.graphs.style.setProperty("--panel-width", `${pane.width}px`);
    this.syncBar(layers, shown);
    const scroll = pane.perRow < shown.length;
    this.hint.textContent = scroll
      ? `${pane.perRow} of ${shown.length} side by side, at a readable size: scroll sideways for the others`
      : "same epoch, shared filter and search; hover a node to find its samples in the other layers";
    app.main.view.root.style.order = String(shown.indexOf(state.layer));
    this.scroll = scroll;
    if (changed.has("layers") && state.layers) this.show(state, state.layers);
    if (STYLE_KEYS.some((k) => changed.has(k))) this.restyle(state);
  }

  /** Scrolls the panels so that view A's (the current layer's) is in view. */
  reveal() {
    requestAnimationFrame(() => {
      const area = this.app.graphs;
      const panel = this.app.main.view.root;
      const left = panel.offsetLeft;
      if (left < area.scrollLeft || left + panel.offsetWidth > area.scrollLeft + area.clientWidth) {
        area.scrollLeft = Math.max(0, left + panel.offsetWidth - area.clientWidth);
      }
    });
  }

  syncBar(layers, shown) {
    this.selects.forEach((sel, i) => {
      const values = i === 2 ? [NONE, ...layers] : layers;
      fillSelect(sel, values, i === 2 ? ["—", ...layers] : null);
      sel.value = shown[i] ?? NONE;
    });
  }

  show(state, data) {
    const app = this.app;
    for (const [layer, view] of this.extra) {
      if (!data.panels.some((p) => p.layer === layer)) {
        view.destroy();
        this.extra.delete(layer);
      }
    }
    for (const { layer, epoch, graph, positions, box } of data.panels) {
      let view = this.extra.get(layer);
      if (!view) {
        view = new GraphView(app.graphs, {
          testid: `graph-layer-${data.shown.indexOf(layer)}`,
          onClick: (i) => this.app.set({ lpin: i === null ? null : { layer, id: this.extra.get(layer).graph.nodes[i].id } }),
          onHover: (i) => this.linkHover(layer, i),
        });
        if (app.theme) view.setTheme(app.theme);
        this.extra.set(layer, view);
      }
      view.setStyle({ sizeMode: state.size });
      const g = graph || EMPTY_GRAPH;
      const prev = view.graph;
      const from = prev && graph && prev.run === graph.run && prev.layer === graph.layer ? tweenFrom(prev, view.positions(), g, positions) : null;
      view.show(g, positions, { from, box });
      view.epoch = epoch;
      view.setCaption(`${state.run} / ${layer} · epoch ${epoch ?? "–"}${remappedMark(graph)}`, state.health[layer] || null);
      const k = data.shown.indexOf(layer);
      view.root.style.order = String(k);
      view.canvas.dataset.testid = `graph-layer-${k}`;
    }
    for (const v of this.views()) v.root.classList.toggle("layer-divided", v.root.style.order !== "0");
    // The current layer's panel in view once the panels are there (the others may need a scroll), and again when
    // the current layer changes; otherwise the user's scroll stays.
    if (this.scroll && this.revealed !== state.layer) this.reveal();
    this.revealed = state.layer;
    this.restyle(state);
    this.updates++;
    document.body.dataset.layersReady = `${data.epoch}:${data.shown.join(",")}`;
  }

  views() {
    return [...this.extra.values()];
  }

  /** The shared class filter, search, tracking and style, applied to every extra view. */
  restyle(state) {
    for (const view of this.extra.values()) if (view.graph) view.setStyle(viewStyle(state, view.graph));
    this.restLinks();
  }

  /** (layer, graph, view) of every shown view, A included. */
  entries() {
    const s = this.app.store.get();
    const main = this.app.main.view;
    return [{ layer: s.layer, graph: main.graph, view: main }, ...[...this.extra].map(([layer, view]) => ({ layer, graph: view.graph, view }))];
  }

  /** Rings, in every other view, the nodes holding the samples of node `index` of `layer` (null: none). */
  linkFrom(layer, index) {
    if (!this.extra.size) return;
    const all = this.entries();
    const src = all.find((e) => e.layer === layer);
    for (const e of all) {
      if (e === src || !e.graph) continue;
      e.view.setStyle({ linked: src && src.graph && index !== null ? linkedNodes(src.graph, index, e.graph) : null });
    }
    if (src) src.view.setStyle({ linked: null });
  }

  /** What is linked while nothing is hovered: a node clicked in an extra view (`lpin`), else A's selected node. */
  restLinks() {
    if (!this.extra.size) return;
    const s = this.app.store.get();
    const g = s.graph;
    const pin = s.lpin && this.extra.get(s.lpin.layer);
    const pinned = pin && pin.graph ? pin.graph.index.get(s.lpin.id) : undefined;
    if (pinned !== undefined) this.linkFrom(s.lpin.layer, pinned);
    else if (s.node !== null && g && g.index.has(s.node)) this.linkFrom(s.layer, g.index.get(s.node));
    else this.linkFrom(s.layer, null);
  }

  linkHover(layer, i) {
    if (i === null) this.restLinks();
    else this.linkFrom(layer, i);
  }

  /** A summary of each shown view (layer, epoch, node count, caption, size, node centres outside it), for tests. */
  describe() {
    const s = this.app.store.get();
    return this.entries()
      .map(({ layer, view }) => ({
        layer,
        order: Number(view.root.style.order || 0),
        caption: view.captionText.textContent,
        nodes: view.nodes.length,
        offscreen: view.offscreenCount(),
        width: view.width,
        height: view.height,
        epoch: layer === s.layer ? s.epoch : view.epoch ?? null,
      }))
      .sort((a, b) => a.order - b.order);
  }

  close() {
    const main = this.app.main.view;
    this.active = false;
    this.revealed = null;
    this.app.graphs.scrollLeft = 0;
    for (const view of this.extra.values()) view.destroy();
    this.extra.clear();
    this.app.graphs.classList.remove("layers");
    this.app.graphs.style.removeProperty("--panel-width");
    main.root.style.order = "";
    main.root.classList.remove("layer-divided");
    main.setStyle({ linked: null });
    delete document.body.dataset.layersReady;
  }
}
