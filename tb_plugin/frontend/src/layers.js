// Layers mode: two or three layers of the current run side by side at the same epoch (TopoAct's cross-layer
// view), sharing the class filter, the search, tracked samples and the epoch slider. The current layer stays in
// view A; the other chosen layers get views of their own, placed in watch order. Hovering or selecting a node in
// one view rings, in the others, the nodes holding its samples (the probe is the same in every layer's graph).

import { api, componentCentres, focusSet, isAbort, linkedNodes, nodesContaining, seedPositions, shownLayers, snapEpoch } from "./model.js";
import { fillSelect } from "./toolbar.js";
import { GraphView, el } from "./views.js";
import { remappedMark } from "./params.js";

const NONE = "";

export class LayersController {
  /** `app` gives the runs, view A and its graph; `update(patch)` is the only way this writes the state. */
  constructor(app, { update }) {
    this.app = app;
    this.update = update;
    /** layer -> {view, graph, epoch} for the views besides A. */
    this.extra = new Map();
    this.shown = [];
    this.pinned = null; // {layer, index}: a node clicked in one of the extra views
    this.ctl = null;
    this.updates = 0;
    this.selects = [0, 1, 2].map((i) =>
      el("select", { testid: `layers-select-${i}`, title: i === 2 ? "Third layer (or none)" : `Layer ${i + 1}` }),
    );
    this.selects.forEach((sel) => sel.addEventListener("change", () => this.choose()));
    this.bar = el("div", { cls: "toolbar layers-bar", testid: "layers-bar" }, [
      el("strong", { text: "Layers: " }),
      ...this.selects,
      el("span", { cls: "muted", text: "same epoch, shared filter and search; hover a node to find its samples in the other layers" }),
    ]);
    this.bar.hidden = true;
  }

  /** The layer pickers changed: the new set (the current layer kept in it, or the first chosen one becomes it). */
  choose() {
    const layers = this.app.runInfo(this.app.store.get().run).layers;
    const picked = [...new Set(this.selects.map((s) => s.value).filter((v) => v !== NONE && layers.includes(v)))];
    const s = this.app.store.get();
    const ordered = layers.filter((l) => picked.includes(l));
    const layer = ordered.includes(s.layer) ? s.layer : ordered[0] || s.layer;
    this.update({ lays: ordered.join(","), layer, node: layer === s.layer ? s.node : null });
  }

  /** Brings the extra views in line with the state; called once per change of A's graph or of the mode. */
  async refresh() {
    if (this.ctl) this.ctl.abort();
    const app = this.app;
    const s = app.store.get();
    // Compare mode has the room beside A (a URL could ask for both): layers mode waits until compare is off.
    const on = s.lay && !s.cmp;
    this.bar.hidden = !on;
    if (!on) {
      this.ctl = null;
      this.close();
      return;
    }
    if (!app.graph) return;
    const ctl = (this.ctl = new AbortController());
    const layers = app.runInfo(s.run).layers;
    const shown = shownLayers(layers, s.layer, s.lays);
    this.syncBar(layers, shown);
    const others = shown.filter((l) => l !== s.layer);
    let loaded;
    try {
      loaded = await Promise.all(
        others.map(async (layer) => {
          const epochs = (await api.epochs(s.run, layer, ctl.signal)).epochs || [];
          const epoch = snapEpoch(epochs, s.epoch);
          const params = app.mapperParams({ run: s.run, layer });
          return { layer, epoch, graph: epoch === null ? null : await api.graph(s.run, layer, epoch, ctl.signal, params) };
        }),
      );
    } catch (e) {
      if (!isAbort(e)) console.warn("topoact: layers view:", e.message);
      return;
    }
    this.show(s, shown, loaded);
  }

  syncBar(layers, shown) {
    this.selects.forEach((sel, i) => {
      const values = i === 2 ? [NONE, ...layers] : layers;
      fillSelect(sel, values, i === 2 ? ["—", ...layers] : null);
      sel.value = shown[i] ?? NONE;
    });
  }

  show(s, shown, loaded) {
    const app = this.app;
    for (const [layer, entry] of this.extra) {
      if (!loaded.some((l) => l.layer === layer)) {
        entry.view.destroy();
        this.extra.delete(layer);
      }
    }
    app.graphs.classList.add("layers");
    app.viewA.framer = null;
    for (const { layer, epoch, graph } of loaded) {
      let entry = this.extra.get(layer);
      if (!entry) {
        const view = new GraphView(app.graphs, {
          testid: `graph-layer-${shown.indexOf(layer)}`,
          onClick: (i) => {
            this.pinned = i === null ? null : { layer, index: i };
            this.restLinks();
          },
          onHover: (i) => this.linkHover(layer, i),
        });
        if (app.theme) view.setTheme(app.theme);
        entry = { view, graph: null, epoch: null };
        this.extra.set(layer, entry);
      }
      const g = graph || { nodes: [], links: [], edges: [], class_names: [], index: new Map() };
      // Stepping epochs within a layer, nodes start where their members were; a new layer is packed afresh.
      if (entry.graph && graph) {
        const seeds = seedPositions(entry.graph, entry.view.positions(), g);
        entry.view.setGraph(g, seeds, { relax: 0.2, targets: componentCentres(g.nodes.length, g.links, seeds) });
      } else {
        const layout = app.freshLayout(g, entry.view);
        entry.view.setGraph(g, layout.seeds, { relax: 1, budgetMs: 250, targets: layout.targets });
      }
      entry.graph = graph;
      entry.epoch = epoch;
      entry.view.setCaption(
        `${s.run} / ${layer} · epoch ${epoch ?? "–"}${remappedMark(graph)}`,
        app.health[layer] || null,
      );
    }
    // Watch order left to right, whatever order the views were made in.
    app.viewA.root.style.order = String(shown.indexOf(s.layer));
    for (const [layer, entry] of this.extra) {
      const k = shown.indexOf(layer);
      entry.view.root.style.order = String(k);
      entry.view.canvas.dataset.testid = `graph-layer-${k}`;
    }
    for (const v of this.views()) v.root.classList.toggle("layer-divided", v.root.style.order !== "0");
    this.shown = shown;
    if (this.pinned && !this.extra.has(this.pinned.layer)) this.pinned = null;
    app.setCaptions();
    this.restyle();
    for (const v of this.views()) v.resize();
    this.updates++;
    document.body.dataset.layersReady = `${s.epoch}:${shown.join(",")}`;
  }

  views() {
    return [this.app.viewA, ...[...this.extra.values()].map((e) => e.view)];
  }

  /** The shared class filter, search, tracking and style, applied to every extra view. */
  restyle() {
    const s = this.app.store.get();
    for (const { view, graph } of this.extra.values()) {
      if (!graph) continue;
      view.setStyle({
        colorMode: s.color,
        sizeMode: s.size,
        threshold: s.thr,
        focus: focusSet(graph, s),
        tracked: s.track.length ? nodesContaining(graph, s.track) : null,
      });
    }
    this.restLinks();
  }

  /** (layer, graph, view) of every shown view, A included. */
  entries() {
    const app = this.app;
    const s = app.store.get();
    return [
      { layer: s.layer, graph: app.graph, view: app.viewA },
      ...[...this.extra].map(([layer, e]) => ({ layer, graph: e.graph, view: e.view })),
    ];
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

  /** What is linked while nothing is hovered: a node pinned in an extra view, else A's selected node. */
  restLinks() {
    if (!this.extra.size) return;
    const app = this.app;
    const s = app.store.get();
    if (this.pinned) this.linkFrom(this.pinned.layer, this.pinned.index);
    else if (s.node !== null && app.graph && app.graph.index.has(s.node)) this.linkFrom(s.layer, app.graph.index.get(s.node));
    else this.linkFrom(s.layer, null);
  }

  linkHover(layer, i) {
    if (i === null) this.restLinks();
    else this.linkFrom(layer, i);
  }

  /** A summary of each shown view (layer, epoch, node count, caption, node centres outside it), for tests. */
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
        epoch: layer === s.layer ? s.epoch : this.extra.get(layer)?.epoch ?? null,
      }))
      .sort((a, b) => a.order - b.order);
  }

  close() {
    for (const { view } of this.extra.values()) view.destroy();
    const hadViews = this.extra.size > 0 || this.app.graphs.classList.contains("layers");
    this.extra.clear();
    this.shown = [];
    this.pinned = null;
    if (!hadViews) return;
    this.app.graphs.classList.remove("layers");
    this.app.viewA.root.style.order = "";
    this.app.viewA.root.classList.remove("layer-divided");
    this.app.viewA.setStyle({ linked: null });
    this.app.setCaptions();
    this.app.viewA.resize();
  }
}
