// Compare mode: view B beside view A, laid out from A's matching nodes (counterparts sit in the same place), both
// framed to one box, and the comparison read forward in time (the route is asked with the earlier graph first).

import { api, compareOrder, componentCentres, defaultEpoch2, isAbort, seedPositions } from "./model.js";
import { fillSelect } from "./toolbar.js";
import { GraphView, el, renderCompareSummary } from "./views.js";

export class CompareController {
  /** `app` gives the runs, view A and its graph; `update(patch)` is the only way this writes the state. */
  constructor(app, { update, summaryBox }) {
    this.app = app;
    this.update = update;
    this.summaryBox = summaryBox;
    this.view = null;
    this.graph = null;
    this.cmp = null;
    this.flipped = false;
    this.ctl = null;
    this.updates = 0;
  }

  /** B's run and layer, given the state (and the run's layers): known without asking the server. */
  side(s) {
    const app = this.app;
    const run = app.runs.some((r) => r.run === s.run2) ? s.run2 : s.run;
    const layers = app.runInfo(run).layers;
    const layer = layers.includes(s.layer2) ? s.layer2 : layers.includes(s.layer) ? s.layer : layers[layers.length - 1];
    return { run, layer, layers };
  }

  /** What B shows, given the state: B's run, layer and epoch (its default is the epoch before A's). */
  async resolve(s, signal) {
    const { run, layer, layers } = this.side(s);
    const epochs = (await api.epochs(run, layer, signal)).epochs || [];
    let epoch = s.epoch2;
    if (epoch === null || !epochs.includes(epoch)) {
      const same = run === s.run && layer === s.layer;
      epoch = same || !epochs.includes(s.epoch) ? defaultEpoch2(epochs, s.epoch) : s.epoch;
    }
    return { run, layer, epoch, epochs, layers };
  }

  /** Brings B in line with the state; called once per change of A's graph or of B's choice. */
  async refresh() {
    if (this.ctl) this.ctl.abort();
    const s = this.app.store.get();
    if (!s.cmp) {
      this.ctl = null;
      this.close();
      return;
    }
    if (!this.app.graph) return;
    const ctl = (this.ctl = new AbortController());
    const tb = this.app.toolbar;
    let b;
    let g2;
    let cmp;
    const a = { run: s.run, layer: s.layer, epoch: s.epoch };
    try {
      b = await this.resolve(s, ctl.signal);
      fillSelect(tb.layer2Sel, b.layers);
      fillSelect(tb.epoch2Sel, b.epochs.map(String));
      tb.run2Sel.value = b.run;
      tb.layer2Sel.value = b.layer;
      tb.epoch2Sel.value = String(b.epoch);
      const order = compareOrder(a, b);
      this.flipped = order.flipped;
      // A, B and the comparison share one set of parameters (the app's: logged graphs on both sides when either
      // has no stored activations), so the route's node ids are those of the graphs on screen.
      const params = this.app.mapperParams();
      [g2, cmp] = await Promise.all([
        api.graph(b.run, b.layer, b.epoch, ctl.signal, params),
        api.compare(order.first, order.second, ctl.signal, params),
      ]);
    } catch (e) {
      if (!isAbort(e)) this.showError(e);
      return;
    }
    this.updates++;
    this.show(a, b, g2, cmp);
  }

  show(a, b, g2, cmp) {
    const app = this.app;
    if (!this.view) {
      app.graphs.classList.add("split");
      this.view = new GraphView(app.graphs, {
        testid: "graph-b",
        onClick: (i) => {
          // A click in B selects the A node it matches best, if any.
          if (i === null || !this.cmp) return;
          const best = this.matchesOf("b", this.graph.nodes[i].id, true)[0];
          if (best !== undefined) app.update({ node: best });
        },
        onHover: (i) => this.linkHover("b", i),
      });
      if (app.theme) this.view.setTheme(app.theme);
      // Both views frame to one box: counterparts, laid out at the same graph coordinates, meet on screen; the
      // user's zoom in either view applies to both, and so does Fit.
      for (const v of [app.viewA, this.view]) {
        v.framer = () => this.frameBoth();
        v.onUserZoom = (src) => this.linkZoom(src);
        v.onFit = () => {
          app.viewA.autoFit = true;
          if (this.view) this.view.autoFit = true;
        };
      }
      app.viewA.autoFit = true;
    }
    this.graph = g2;
    this.cmp = cmp;
    this.b = b;
    // B starts where its nodes' counterparts sit in A and relaxes only a little, so they stay there.
    const seeds = seedPositions(app.graph, app.viewA.positions(), g2);
    const n = g2.nodes.length;
    this.view.setGraph(g2, seeds, { relax: 0.12, targets: componentCentres(n, g2.links, seeds) });
    this.view.autoFit = app.viewA.autoFit;
    if (app.viewA.autoFit) this.frameBoth();
    else this.view.setTransform(app.viewA.transform);
    app.setCaptions();
    this.summaryBox.hidden = false;
    renderCompareSummary(this.summaryBox, cmp, this.flipped, (aIds, bIds) => this.highlight(aIds, bIds));
    app.restyle();
    this.clearHighlights();
    document.body.dataset.compareReady = `${a.epoch}:${b.epoch}`;
  }

  /** Frames A and B (those the user has not zoomed) to the box holding both graphs. */
  frameBoth() {
    const views = [this.app.viewA, this.view].filter((v) => v && v.nodes.length);
    const boxes = views.map((v) => v.contentBounds()).filter(Boolean);
    if (!boxes.length) return;
    const box = {
      x0: Math.min(...boxes.map((b) => b.x0)),
      y0: Math.min(...boxes.map((b) => b.y0)),
      x1: Math.max(...boxes.map((b) => b.x1)),
      y1: Math.max(...boxes.map((b) => b.y1)),
    };
    for (const v of views) if (v.autoFit) v.fitTo(box);
  }

  /** The user zoomed or panned one view: the other follows (same graph coordinates, same place on screen). */
  linkZoom(src) {
    const other = src === this.app.viewA ? this.view : this.app.viewA;
    if (!other) return;
    other.autoFit = false;
    other.setTransform(src.transform);
  }

  close() {
    if (this.view) {
      this.view.destroy();
      this.view = null;
    }
    this.app.viewA.framer = null;
    this.app.viewA.onUserZoom = () => {};
    this.app.viewA.onFit = () => {};
    this.graph = null;
    this.cmp = null;
    this.b = null;
    this.app.graphs.classList.remove("split");
    this.summaryBox.hidden = true;
    this.app.setCaptions();
    this.app.viewA.reframe();
  }

  /** A comparison that cannot be made (e.g. runs with different probe sets): say why beside A, keep A. */
  showError(e) {
    this.close();
    this.summaryBox.hidden = false;
    this.summaryBox.textContent = "";
    this.summaryBox.append(
      el("div", { cls: "status-title error-text", text: "Cannot compare these graphs" }),
      el("div", { cls: "muted", testid: "compare-error", text: e && e.message ? e.message : String(e) }),
    );
  }

  /**
   * Ids in the other view matched to node `id` of `side`, best match first. The route's matches are
   * [earlier id, later id, weight]; `flipped` means the earlier graph is view B.
   */
  matchesOf(side, id, sorted = false) {
    if (!this.cmp) return [];
    const aCol = this.flipped ? 1 : 0;
    const [mine, other] = side === "a" ? [aCol, 1 - aCol] : [1 - aCol, aCol];
    const list = this.cmp.matches.filter((m) => m[mine] === id);
    if (sorted) list.sort((p, q) => q[2] - p[2]);
    return list.map((m) => m[other]);
  }

  /** Hovering a node in one view lights up its matches in the other. */
  linkHover(side, i) {
    if (!this.view || !this.cmp) return;
    if (i === null) {
      this.highlight(null, null);
      return;
    }
    const g = side === "a" ? this.app.graph : this.graph;
    const ids = this.matchesOf(side, g.nodes[i].id);
    if (side === "a") this.highlight(null, ids);
    else this.highlight(ids, null);
  }

  highlight(aIds, bIds) {
    const toIdx = (g, ids) => (ids && ids.length ? new Set(ids.map((id) => g.index.get(id)).filter((x) => x !== undefined)) : null);
    this.app.viewA.setStyle({ linked: toIdx(this.app.graph, aIds) });
    if (this.view) this.view.setStyle({ linked: toIdx(this.graph, bIds) });
  }

  /** A view changed: drop the old matching's rings, then ring what the pointer rests on now, by the new one. */
  clearHighlights() {
    this.highlight(null, null);
    if (this.view && this.view.hovered !== null) this.linkHover("b", this.view.hovered);
    else if (this.app.viewA.hovered !== null) this.linkHover("a", this.app.viewA.hovered);
  }
}
