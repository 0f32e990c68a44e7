// A small debug and test surface, `window.__topoact`: the state, timings, node positions, a way to click a node,
// and waits for a quiet page. The browser tests and benchmarks drive the tab through it.

import { api, clearCache, settled } from "./api.js";
import { offscreen } from "./frame.js";
import { edgeCrossings, nodeRadii } from "./layout.js";
import { chainFor, clearChains, layoutAfter } from "./layoutchain.js";

export function exposeDebug(app) {
  const views = { a: () => app.main.view, b: () => app.compare.view };
  const pick = (view) => (views[view] || views.a)();
  const graphOf = (v) => (v ? v.graph : null);
  const layerView = (layer) => app.layers.entries().find((x) => x.layer === layer);
  const quiet = async () => {
    // Loaders start their requests after the change that asks for them, and layouts run between requests.
    for (let i = 0; i < 50; i++) {
      await settled();
      await new Promise((r) => setTimeout(r, 20));
      const busy = app.loaders.some((l) => l.ctl) || Object.keys(app.store.get().tasks).length > 0;
      if (!busy) break;
    }
  };
  window.__topoact = {
    app,
    get state() {
      return app.store.get();
    },
    get epoch() {
      const L = app.store.get().layoutA;
      return L ? L.epoch : null;
    },
    get epochs() {
      return app.store.get().epochs.slice();
    },
    get timings() {
      return { ...app.timings };
    },
    graph: () => app.store.get().graph,
    /** The graph view "a" (the toolbar's graph) or "b" (compare's other graph), or null. */
    view: (name = "a") => pick(name) || null,
    nodeCount: (view = "a") => pick(view)?.nodes.length ?? 0,
    /** Client position of the node with server id `id` in view "a" or "b" (iframe viewport coordinates). */
    nodePosition(id, view = "a") {
      const v = pick(view);
      const g = graphOf(v);
      if (!g || !g.index.has(id)) return null;
      return v.clientPosition(g.index.get(id));
    },
    /** Positions of every node of a view as drawn, by id, in graph coordinates (for layout checks). */
    layout(view = "a") {
      const v = pick(view);
      const g = graphOf(v);
      if (!g) return {};
      return Object.fromEntries(v.nodes.map((n) => [g.nodes[n.index].id, [n.x, n.y]]));
    },
    /** Selects node `id` as a click would (prefer real clicks at nodePosition in tests). */
    clickNode(id) {
      app.set({ node: id });
    },
    /** Ends every move in progress (for screenshots and measurements). */
    settle() {
      for (const v of app.views()) v.finishLayout();
    },
    drawCount: () => app.main.view.drawCount,
    /** Ids of view A's nodes in focus (search, class filter, a finding's nodes), or null when none is faded. */
    focused() {
      const v = app.main.view;
      const f = v.style.focus;
      return f && v.graph ? [...f].map((i) => v.graph.nodes[i].id).sort((a, b) => a - b) : null;
    },
    /** Node centres outside view "a" or "b" under its current zoom, by side, and the view's size. */
    offscreen(view = "a") {
      const v = pick(view);
      if (!v) return null;
      return { ...offscreen(v.nodes, v.transform, v.width, v.height), nodes: v.nodes.length, autoFit: v.autoFit };
    },
    /** Edge crossings of a view's current layout (every edge, whatever the threshold). */
    crossings(view = "a") {
      const v = pick(view);
      return v && v.graph ? edgeCrossings(v.nodes, v.graph.links) : null;
    },
    /** The projection panel: layer, epoch, method, point count, caption, and the highlighted sample ids. */
    projection: () => app.projection.describe(),
    /** Client positions of the projection's points, by sample id (iframe viewport coordinates). */
    pointPositions: () => app.projection.clientPositions(),
    /** How often compare mode has redrawn the other graph (once per change). */
    compareUpdates: () => app.compare.updates,
    /** Layers mode: each shown view in watch order (layer, epoch, caption, nodes, node centres outside it). */
    layers: () => app.layers.describe(),
    /** Client position of node `id` of `layer`'s view in layers mode. */
    layerNodePosition(layer, id) {
      const e = layerView(layer);
      if (!e || !e.graph || !e.graph.index.has(id)) return null;
      return e.view.clientPosition(e.graph.index.get(id));
    },
    /** Indices of ringed (linked) nodes in `layer`'s view, sorted. */
    layerLinked(layer) {
      const e = layerView(layer);
      return e && e.view.style.linked ? [...e.view.style.linked].sort((a, b) => a - b) : [];
    },
    /** Indices of nodes in focus (not faded) in `layer`'s view, or null when nothing is faded. */
    layerFocus(layer) {
      const e = layerView(layer);
      return e && e.view.style.focus ? [...e.view.style.focus].sort((a, b) => a - b) : null;
    },
    /** Resolves once no request or layout is under way and every move has ended (a quiet page, for timing). */
    async idle() {
      await quiet();
      this.settle();
      return true;
    },
    /** Median time of `n` full redraws of view A, in ms. */
    drawMs(n = 15) {
      const v = app.main.view;
      const times = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        v.drawNow();
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[Math.floor(n / 2)];
    },
    /** Median time of `n` layouts of the shown epoch after the one before it (one step of the chain), in ms. */
    layoutStepMs(n = 5) {
      const s = app.store.get();
      const steps = s.layoutA ? chainFor(s.layoutA.chainKey).steps : [];
      const i = steps.findIndex((x) => x.epoch === s.layoutA.epoch);
      if (i < 1) return null;
      const [prev, cur] = [steps[i - 1], steps[i]];
      const r = nodeRadii(cur.graph, s.size);
      const times = [];
      for (let k = 0; k < n; k++) {
        const t0 = performance.now();
        layoutAfter(prev.graph, prev.positions, cur.graph, r);
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[Math.floor(n / 2)];
    },
    /** Forgets cached responses (what Reload does before refetching) and, with `layouts`, the computed layouts. */
    clearCache(layouts = false) {
      clearCache();
      if (layouts) clearChains();
    },
    /** Fetches (and caches) the graph of `epoch` for the current run and layer, as shown. */
    prefetch: (epoch) => {
      const s = app.store.get();
      return api.graph(s.run, s.layer, epoch, undefined, s.query).then(() => true);
    },
  };
}
