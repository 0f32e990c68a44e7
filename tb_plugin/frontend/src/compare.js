// Compare mode: view A and another graph side by side, the earlier epoch on the left and the later on the right
// (modes.js compareOrder), captioned and summarised in the same words ("From epoch 2 … To epoch 3"). The other
// graph of the same layer is laid out by the layer's own chain (its layout at that epoch, the same however it was
// reached); of another layer or run, seeded from A's matching nodes so counterparts sit in the same place. Both
// views frame one box, and a zoom in either applies to both.

import { api } from "./api.js";
import { el } from "./dom.js";
import { unionBox } from "./frame.js";
import { GraphView } from "./graphview.js";
import { nodeRadii } from "./layout.js";
import { chainFor, layoutAfter, layoutBox, tweenFrom } from "./layoutchain.js";
import { Loader } from "./loaders.js";
import { viewStyle } from "./mainview.js";
import { compareOrder, compareSide, compareWords, defaultEpoch2, modeOf, queryFor } from "./modes.js";
import { renderCompareSummary } from "./panels.js";
import { remappedMark } from "./params.js";

const STYLE_KEYS = ["compare", "color", "size", "thr", "cls", "q", "track", "psel", "graph"];

export class CompareController {
  constructor(app) {
    this.app = app;
    this.view = null;
    this.summaryBox = app.side.compareSummary;
    this.missing = el("div", { cls: "graph-view compare-missing", testid: "compare-missing" });
    this.updates = 0;
    const store = app.store;
    this.loader = new Loader(store, {
      want: (s) => {
        if (modeOf(s) !== "compare" || !s.graph || !s.layoutA) return null;
        // A is being fetched again with the parameters this comparison will use: wait for it.
        if (JSON.stringify(queryFor(s)) !== JSON.stringify(s.query)) return { waiting: true };
        const side = compareSide(s);
        const a = { run: s.graph.run, layer: s.graph.layer, epoch: s.layoutA.epoch };
        return { a, run: side.run, layer: side.layer, layers: side.layers, epoch2: s.epoch2, query: s.query, layout: s.layoutA.key };
      },
      load: (w, signal) => (w.waiting ? null : this.load(w, signal)),
      fail: (e, w) => ({ compare: Object.freeze({ b: { run: w.run, layer: w.layer, epoch: w.epoch2 }, epochs: [], layers: w.layers, error: e.message }) }),
    });
  }

  /** The other graph, its layout and the comparison, read forward in time. */
  async load(w, signal) {
    const epochs = (await api.epochs(w.run, w.layer, signal)).epochs || [];
    const same = w.run === w.a.run && w.layer === w.a.layer;
    let epoch = w.epoch2;
    if (epoch === null || !epochs.includes(epoch)) {
      epoch = same || !epochs.includes(w.a.epoch) ? defaultEpoch2(epochs, w.a.epoch) : w.a.epoch;
    }
    const b = { run: w.run, layer: w.layer, epoch };
    const order = compareOrder(w.a, b);
    const [graph, cmp] = await Promise.all([
      api.graph(b.run, b.layer, b.epoch, signal, w.query),
      api.compare(order.first, order.second, signal, w.query),
    ]);
    const s = this.app.store.get();
    const chain = same ? chainFor(s.layoutA.chainKey) : null;
    let positions = chain && chain.at(b.epoch);
    let box = chain && chain.box();
    if (!positions) {
      const r = nodeRadii(graph, s.size);
      positions = layoutAfter(s.graph, s.layoutA.positions, graph, r);
      box = unionBox([s.layoutA.box, layoutBox(positions, r)]);
    }
    return { compare: Object.freeze({ b, epochs, layers: w.layers, graph, positions, box, cmp, flipped: order.flipped, error: null }) };
  }

  render(state, changed) {
    const app = this.app;
    if (modeOf(state) !== "compare") {
      if (this.active) this.close();
      return;
    }
    if (!this.active) {
      this.active = true;
      app.graphs.classList.add("split");
      this.summaryBox.hidden = false;
    }
    const c = state.compare;
    if (changed.has("compare") || changed.has("cmp")) {
      if (!c) return;
      if (c.error) this.showError(c.error);
      else this.show(state, c);
    }
    if (this.view && c && c.graph && STYLE_KEYS.some((k) => changed.has(k))) this.view.setStyle(viewStyle(state, c.graph));
  }

  show(state, c) {
    const app = this.app;
    this.missing.remove();
    if (!this.view) {
      this.view = new GraphView(app.graphs, {
        testid: "graph-b",
        onClick: (i) => {
          // A click in B selects the A node it matches best, if any.
          const best = i === null ? undefined : this.matchesOf("b", this.view.graph.nodes[i].id, true)[0];
          if (best !== undefined) app.set({ node: best });
        },
        onHover: (i) => this.linkHover("b", i),
      });
      if (app.theme) this.view.setTheme(app.theme);
      this.view.setStyle({ sizeMode: state.size });
      for (const v of [app.main.view, this.view]) {
        v.onUserZoom = (src) => this.linkZoom(src);
        v.onFit = () => {
          app.main.view.autoFit = true;
          if (this.view) this.view.autoFit = true;
        };
      }
    }
    const v = this.view;
    const prev = v.graph;
    const same = prev && prev.run === c.graph.run && prev.layer === c.graph.layer;
    v.autoFit = app.main.view.autoFit;
    v.show(c.graph, c.positions, { from: same ? tweenFrom(prev, v.positions(), c.graph, c.positions) : null, box: c.box });
    if (!v.autoFit) v.setTransform(app.main.view.transform);
    // Reading order: the earlier graph on the left.
    app.main.view.root.style.order = c.flipped ? "2" : "0";
    v.root.style.order = c.flipped ? "0" : "2";
    app.main.view.root.classList.toggle("divided", c.flipped);
    v.root.classList.toggle("divided", !c.flipped);
    this.flipped = c.flipped;
    const a = { run: state.graph.run, layer: state.graph.layer, epoch: state.layoutA.epoch };
    const order = compareOrder(a, c.b);
    const words = compareWords(order.first, order.second);
    const where = words.where ? ` · ${words.where}` : "";
    const caption = c.flipped ? `From ${words.from}${where}` : `To ${words.to}${where}`;
    const warn = c.b.run === state.run ? state.health[c.b.layer] : null;
    v.setCaption(`${caption}${remappedMark(c.graph)}`, warn || null);
    renderCompareSummary(this.summaryBox, c.cmp, words, (left, right) => (c.flipped ? this.highlight(right, left) : this.highlight(left, right)));
    v.setStyle(viewStyle(state, c.graph));
    this.clearHighlights();
    this.updates++;
    document.body.dataset.compareReady = `${a.epoch}:${c.b.epoch}`;
  }

  /** The user zoomed or panned one view: the other follows (same graph coordinates, same place on screen). */
  linkZoom(src) {
    const main = this.app.main.view;
    const other = src === main ? this.view : main;
    if (!other) return;
    other.autoFit = false;
    other.setTransform(src.transform);
  }

  close() {
    const main = this.app.main.view;
    this.active = false;
    if (this.view) this.view.destroy();
    this.view = null;
    this.missing.remove();
    main.onUserZoom = () => {};
    main.onFit = () => {};
    main.root.style.order = "";
    main.root.classList.remove("divided");
    main.setStyle({ linked: null });
    this.app.graphs.classList.remove("split");
    this.summaryBox.hidden = true;
    this.summaryBox.textContent = "";
    delete document.body.dataset.compareReady;
  }

  /** A comparison that cannot be made (e.g. runs with different probe sets): say why beside A, keep A. */
  showError(message) {
    if (this.view) this.view.destroy();
    this.view = null;
    this.missing.textContent = "The other graph cannot be shown: see the comparison card.";
    this.app.graphs.appendChild(this.missing);
    this.summaryBox.textContent = "";
    this.summaryBox.append(
      el("div", { cls: "status-title error-text", text: "Cannot compare these graphs" }),
      el("div", { cls: "muted", testid: "compare-error", text: message }),
    );
  }

  /**
   * Ids in the other view matched to node `id` of `side`, best match first. The route's matches are
   * [left id, right id, weight]; `flipped` means the left graph is view B.
   */
  matchesOf(side, id, sorted = false) {
    const c = this.app.store.get().compare;
    if (!c || !c.cmp) return [];
    const aCol = c.flipped ? 1 : 0;
    const [mine, other] = side === "a" ? [aCol, 1 - aCol] : [1 - aCol, aCol];
    const list = c.cmp.matches.filter((m) => m[mine] === id);
    if (sorted) list.sort((p, q) => q[2] - p[2]);
    return list.map((m) => m[other]);
  }

  /** Hovering a node in one view lights up its matches in the other. */
  linkHover(side, i) {
    if (!this.view) return;
    if (i === null) {
      this.highlight(null, null);
      return;
    }
    const g = side === "a" ? this.app.main.view.graph : this.view.graph;
    const ids = this.matchesOf(side, g.nodes[i].id);
    if (side === "a") this.highlight(null, ids);
    else this.highlight(ids, null);
  }

  /** Rings nodes `aIds` of A and `bIds` of B (server ids; null: none). */
  highlight(aIds, bIds) {
    const toIdx = (g, ids) => (ids && ids.length && g ? new Set(ids.map((id) => g.index.get(id)).filter((x) => x !== undefined)) : null);
    this.app.main.view.setStyle({ linked: toIdx(this.app.main.view.graph, aIds) });
    if (this.view) this.view.setStyle({ linked: toIdx(this.view.graph, bIds) });
  }

  /** A view changed: drop the old matching's rings, then ring what the pointer rests on now, by the new one. */
  clearHighlights() {
    this.highlight(null, null);
    if (this.view && this.view.hovered !== null) this.linkHover("b", this.view.hovered);
    else if (this.app.main.view.hovered !== null) this.linkHover("a", this.app.main.view.hovered);
  }
}
