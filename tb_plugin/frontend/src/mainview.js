// View A, the graph the toolbar chooses: its loaders (the layer's epochs, the run's health and findings, the graph
// with its layout over the layer's epochs, the chart's metrics) and its drawing. Also how any graph view is styled
// from the state (`viewStyle`), which compare and layers mode share.

import { HttpError, api } from "./api.js";
import { colorModes, effectiveColor } from "./colors.js";
import { cleanFindings, findingNodes, findingShown, intersectFocus, layerHealth } from "./findings.js";
import { aspectStep } from "./frame.js";
import { EMPTY_GRAPH, nodesContaining } from "./graph.js";
import { GraphView } from "./graphview.js";
import { tweenFrom } from "./layoutchain.js";
import { Loader, errorStatus, layerChain, replaceStatus } from "./loaders.js";
import { problemList } from "./metrics.js";
import { compareOrder, compareWords, modeOf, paneSize, queryFor } from "./modes.js";
import { paramsOfQuery, remappedMark, remaps } from "./params.js";
import { focusSet, searchMisses } from "./search.js";
import { runInfo } from "./state.js";

/** The finding shown in the findings panel (state.factive) when it is about what `state` shows, or null. */
export function activeFinding(state) {
  const f = state.findings && state.factive !== null ? state.findings.list[state.factive] : null;
  return f && findingShown(f, state.findings.run, state) ? f : null;
}

/**
 * How a graph view draws graph `g` in `state`: the colour that applies (colors.js effectiveColor), the size mode,
 * the edge threshold, the nodes in focus (class filter, search, projection selection and, in view A, the active
 * finding), those holding tracked samples, and (view A) the selected node.
 */
export function viewStyle(state, g, main = false) {
  if (!g) return {};
  const noMatch = searchMisses(state.graph, state.q);
  let focus = focusSet(g, state, noMatch);
  if (main) {
    const f = activeFinding(state);
    focus = intersectFocus(focus, f ? findingNodes(g, f) : null);
  }
  const selected = main && state.node !== null ? g.index.get(state.node) ?? null : null;
  return {
    colorMode: effectiveColor(state.color, colorModes(g), g).mode,
    sizeMode: state.size,
    threshold: state.thr,
    focus,
    tracked: state.track.length ? nodesContaining(g, state.track) : null,
    selected,
  };
}

const STYLE_KEYS = ["graph", "color", "size", "thr", "cls", "q", "node", "track", "psel", "findings", "factive", "epoch", "layer", "run"];
const EMPTY = (layer) => ({ kind: "empty", title: "This graph has no nodes", detail: `Every sample of ${layer} was left unassigned: try other Mapper parameters.`, source: "graph" });

export class MainView {
  constructor(app) {
    this.app = app;
    const store = app.store;
    this.view = new GraphView(app.graphs, {
      testid: "graph-a",
      onClick: (i) => app.set({ node: i === null ? null : store.get().graph.nodes[i].id, psel: [] }),
      onHover: (i) => {
        app.compare.linkHover("a", i);
        app.layers.linkHover(store.get().layer, i);
      },
    });
    const layerShown = (s) => s.runs.length > 0 && runInfo(s, s.run).layers.includes(s.layer);
    const epochs = new Loader(store, {
      want: (s) => (layerShown(s) ? { run: s.run, layer: s.layer, reloads: s.reloads } : null),
      load: async (w, signal) => {
        const list = (await api.epochs(w.run, w.layer, signal)).epochs || [];
        const none = { kind: "empty", title: `No graphs logged yet for ${w.layer}`, detail: "Graphs appear after the first monitored epoch.", source: "epochs" };
        return (s) => ({ epochs: list, status: list.length ? replaceStatus(s.status, ["epochs"]) : none });
      },
      fail: (e, w) => ({ status: errorStatus(e, `the epochs of ${w.run} / ${w.layer}`, "epochs") }),
    });
    // The layer picker's ⚠ and the badge: each layer's metrics route's problems and the run's fault findings.
    const health = new Loader(store, {
      want: (s) => (layerShown(s) ? { run: s.run, layers: runInfo(s, s.run).layers, reloads: s.reloads } : null),
      load: async (w, signal) => {
        const soft = (p) => p.catch((e) => (e && e.name === "AbortError" ? Promise.reject(e) : null));
        const [metrics, payload] = await Promise.all([
          Promise.all(w.layers.map((l) => soft(api.metrics(w.run, l, signal)))),
          soft(api.findings(w.run, signal)),
        ]);
        const list = cleanFindings(payload);
        const health = layerHealth(Object.fromEntries(w.layers.map((l, i) => [l, problemList(metrics[i])])), list);
        const findings = { run: w.run, list, errors: (payload && payload.errors) || {} };
        return (s) => ({ health, findings, ...(s.findings && s.findings.run === w.run ? {} : { fkinds: [], factive: null }) });
      },
    });
    const graph = new Loader(store, {
      want: (s) => {
        if (!layerShown(s) || s.epoch === null || !s.epochs.length) return null;
        const pane = paneSize(s);
        const aspect = aspectStep(pane.width, pane.height);
        return { run: s.run, layer: s.layer, epoch: s.epoch, epochs: s.epochs, query: queryFor(s), size: s.size, aspect, reloads: s.reloads };
      },
      shown: (s) => s.layoutA && s.layoutA.key,
      load: (w, signal, key) => this.load(w, signal, key),
      fail: (e, w, s) => {
        if (remaps(w.query) && e instanceof HttpError && e.status === 400) {
          // Parameters the server refuses: its reason in the card, the last good graph on screen, and the
          // parameters back to that graph's (so the URL never keeps a refused value).
          console.warn("topoact: re-mapping refused:", e.message);
          return { remapError: e.message, ...paramsOfQuery(s.query) };
        }
        return { status: errorStatus(e, `the graph of ${w.run} / ${w.layer} at epoch ${w.epoch}`, "graph") };
      },
    });
    // The chart: the metrics of the graphs on screen (asked once their parameters were accepted).
    const metrics = new Loader(store, {
      want: (s) => (s.graph ? { run: s.graph.run, layer: s.graph.layer, query: s.query, reloads: s.reloads } : null),
      load: async (w, signal) => ({ metrics: await api.metrics(w.run, w.layer, signal, w.query) }),
      fail: (e) => {
        console.warn("topoact: metrics unavailable:", e.message);
        return { metrics: null };
      },
    });
    this.loaders = [epochs, health, graph, metrics];
  }

  /** The graph at the wanted epoch and its layout over the layer's epochs. */
  async load(w, signal, key) {
    const t0 = performance.now();
    const label = remaps(w.query) ? `Re-mapping ${w.layer} over its epochs` : null;
    const { chain, key: chainKey } = await layerChain(this.app.store, w, signal, "graph", label);
    const step = chain.steps.find((x) => x.epoch === w.epoch);
    this.pendingMs = performance.now() - t0;
    const layoutA = Object.freeze({ key, chainKey, epoch: w.epoch, positions: step.positions, box: chain.box() });
    const g = step.graph;
    return (s) => ({
      graph: g,
      query: w.query,
      layoutA,
      remapError: null,
      status: replaceStatus(s.status, ["graph", "epochs"], g.nodes.length ? null : EMPTY(w.layer)),
    });
  }

  /** The box view A frames: its layouts over the layer's epochs, with compare's other graph while comparing. */
  frameBox(state) {
    const c = state.compare;
    if (modeOf(state) === "compare" && c && c.box && !c.error) return c.box;
    return state.layoutA ? state.layoutA.box : null;
  }

  render(state, changed, before) {
    const v = this.view;
    const g = state.graph;
    if (changed.has("size")) v.setStyle({ sizeMode: state.size });
    if (changed.has("layoutA") || changed.has("graph")) {
      if (!g || !state.layoutA) v.show(EMPTY_GRAPH, []);
      else {
        const prev = before.graph;
        const sameLayer = prev && v.graph === prev && prev.run === g.run && prev.layer === g.layer;
        const from = sameLayer ? tweenFrom(prev, v.positions(), g, state.layoutA.positions) : null;
        const t0 = performance.now();
        v.show(g, state.layoutA.positions, { from, box: this.frameBox(state) });
        this.rendered(state, performance.now() - t0);
      }
    } else if (changed.has("compare") || changed.has("cmp")) {
      // Compare's other graph joins (or leaves) the box both views frame: the frame rule decides whether the
      // camera moves.
      v.box = this.frameBox(state);
      if (v.autoFit) v.fitTo(v.frameBox(), !state.cmp);
    }
    if (g && STYLE_KEYS.some((k) => changed.has(k))) v.setStyle(viewStyle(state, g, true));
    this.caption(state);
  }

  /** Timings for benchmarks: the first render since render(), and the last switch (its fetch and layout, and its
   * drawing). */
  rendered(state, drawMs) {
    const t = this.app.timings;
    t.renders++;
    if (t.firstRender === null) t.firstRender = performance.now() - this.app.t0;
    else t.lastSwitch = (this.pendingMs ?? 0) + drawMs;
    t.parts = { fetchAndLayout: this.pendingMs ?? 0, draw: drawMs };
    document.body.dataset.epoch = String(state.layoutA.epoch);
    document.body.dataset.layer = state.graph.layer;
    document.body.dataset.ready = "1";
  }

  /** View A's caption: what it shows, in compare mode's words while comparing, and its layer's health badge. */
  caption(state) {
    const g = state.graph;
    if (!g) return;
    const c = state.compare;
    const at = { run: g.run, layer: g.layer, epoch: g.epoch };
    let text = `${g.run} / ${g.layer} · epoch ${g.epoch}${remappedMark(g)}`;
    if (modeOf(state) === "compare" && c && c.b && !c.error) {
      const order = compareOrder(at, c.b);
      const words = compareWords(order.first, order.second);
      const where = words.where ? ` · ${words.where}` : "";
      text = order.flipped ? `To ${words.to}${where}${remappedMark(g)}` : `From ${words.from}${where}${remappedMark(g)}`;
    }
    this.view.setCaption(text, state.health[g.layer] || null);
  }
}
