// The projection panel: the probe's activations for the shown layer and epoch as a 2-D scatter (the projection
// route: PCA, or t-SNE), beside the graph. Linked both ways: what the state picks out (a node, a class, a search,
// tracked samples) is highlighted among the points; a box (drag) or a lasso (shift+drag, or the Lasso button)
// selects points, and the graph then focuses the nodes holding them (search.js focusSet reads `psel`).
// The selection lives in the state as `psel` (not in the URL: it can be hundreds of ids); Esc or a click on empty
// space clears it. A t-SNE takes seconds: its wait shows the time elapsed and can be left (Cancel goes back to
// PCA), the rest of the tab stays usable, and moving elsewhere (another epoch, layer or method) stops waiting.

import { api } from "./api.js";
import { classColor, fillByColour } from "./colors.js";
import { el } from "./dom.js";
import { CAPTION_BAND } from "./graphview.js";
import { Loader, startTask } from "./loaders.js";
import { modeOf } from "./modes.js";
import { missingActivations } from "./params.js";
import { classCount, highlightedSamples, nearestPoint, pointsInBox, pointsInPolygon, scatterFrame, toScreen } from "./points.js";
import { ElapsedNote } from "./progress.js";
import { parseSearch, searchMisses } from "./search.js";
import { runInfo } from "./state.js";
import { fillSelect } from "./toolbar.js";

export const METHODS = [
  ["pca", "PCA"],
  ["tsne", "t-SNE"],
];
const LABEL = Object.fromEntries(METHODS);

/** Why the panel cannot show `layer` of `info` (a run from the runs route), in one line, or null when it can. */
export function unavailable(info, layer) {
  const why = missingActivations(info, layer);
  return why && `No stored activations for ${layer}: ${why}.`;
}

export class ProjectionController {
  /** `app` gives the store (read, and written only through `app.set`) and the graphs' area. */
  constructor(app) {
    this.app = app;
    this.root = el("div", { cls: "graph-view projection-view", testid: "projection-view" });
    this.canvas = el("canvas", { testid: "projection", attrs: { "aria-label": "2-D projection of the activations" } });
    this.captionText = el("span", { testid: "projection-caption" });
    const caption = el("div", { cls: "graph-caption projection-caption" }, [this.captionText]);
    this.methodSel = el("select", { testid: "projection-method", title: "Projection method" });
    fillSelect(
      this.methodSel,
      METHODS.map((m) => m[0]),
      METHODS.map((m) => m[1]),
    );
    this.methodSel.addEventListener("change", () => app.set({ projm: this.methodSel.value }));
    this.lassoBtn = el("button", {
      text: "Lasso",
      testid: "projection-lasso",
      title: "Drag a free-hand lasso instead of a box (shift+drag does it too)",
    });
    this.lassoBtn.addEventListener("click", () => {
      this.lasso = !this.lasso;
      this.lassoBtn.classList.toggle("active", this.lasso);
      this.lassoBtn.setAttribute("aria-pressed", String(this.lasso));
    });
    const controls = el("div", { cls: "projection-controls" }, [this.methodSel, this.lassoBtn]);
    this.note = el("div", { cls: "projection-note", testid: "projection-note" });
    this.note.hidden = true;
    this.wait = new ElapsedNote({ testid: "projection-progress", cancelText: "Show PCA instead", onCancel: () => app.set({ projm: "pca" }) });
    this.root.append(this.canvas, caption, controls, this.note, this.wait.element);
    this.root.hidden = true;
    app.graphs.appendChild(this.root);
    this.ctx = this.canvas.getContext("2d");
    this.lasso = false;
    this.data = null; // the route's answer being shown
    this.highlight = null;
    this.labelCount = 0; // classes the data's labels name
    this.paths = null; // the points' paths for the current data, frame and highlight (a drag redraws over them)
    this.screen = { sx: new Float32Array(0), sy: new Float32Array(0) };
    this.drag = null;
    this.width = 0;
    this.height = 0;
    this._bindPointer();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.root);
    const store = app.store;
    this.loader = new Loader(store, {
      want: (s) => {
        if (modeOf(s) !== "projection" || s.epoch === null || !s.layer) return null;
        const method = LABEL[s.projm] ? s.projm : "pca";
        const disabled = unavailable(runInfo(s, s.run), s.layer);
        return disabled ? { disabled, layer: s.layer } : { run: s.run, layer: s.layer, epoch: s.epoch, method, reloads: s.reloads };
      },
      load: async (w, signal, key) => {
        if (w.disabled) return { projection: Object.freeze({ key, disabled: w.disabled, layer: w.layer, data: null }) };
        const label = w.method === "tsne" ? `Computing the t-SNE of ${w.layer} at epoch ${w.epoch}` : `Computing the PCA of ${w.layer}`;
        const task = startTask(store, "projection", label, signal);
        try {
          const data = await api.projection(w.run, w.layer, w.epoch, w.method, signal);
          return { projection: Object.freeze({ key, data, error: null }) };
        } finally {
          task.end();
        }
      },
      fail: (e, w) => ({ projection: Object.freeze({ error: `Could not load the projection: ${e.message}`, layer: w.layer, data: null }) }),
    });
  }

  get on() {
    return modeOf(this.app.store.get()) === "projection";
  }

  /** Brings the panel in line with the state: shown or not, the projection on screen, its wait, its highlight. */
  render(state, changed) {
    const on = modeOf(state) === "projection";
    const wasHidden = this.root.hidden;
    this.root.hidden = !on;
    this.methodSel.value = LABEL[state.projm] ? state.projm : "pca";
    if (!on) {
      this.wait.show(null);
      document.body.dataset.projectionReady = "";
      return;
    }
    if (wasHidden) this.resize();
    if (changed.has("tasks") || wasHidden) this.wait.show(state.tasks.projection || null);
    const p = state.projection;
    if ((changed.has("projection") || wasHidden) && p) {
      if (p.disabled || p.error) {
        this.data = null;
        this.reason = p.disabled || null;
        this.setNote(p.disabled || p.error);
        this.reframe();
        this.setCaption();
        this.draw();
        document.body.dataset.projectionReady = `${p.disabled ? "disabled" : "error"}:${p.layer}`;
        return;
      }
      // The previous points stay while the next epoch loads (aligned, they move little).
      this.data = p.data;
      this.reason = null;
      this.labelCount = classCount(p.data.labels);
      this.setNote(null);
      this.reframe();
      this.restyle();
      this.markReady();
      return;
    }
    if (["graph", "node", "cls", "q", "track", "psel"].some((k) => changed.has(k))) this.restyle();
  }

  /** Tells tests which projection is on screen: `layer:epoch:method`. */
  markReady() {
    const d = this.data;
    document.body.dataset.projectionReady = `${d.layer}:${d.epoch}:${d.method}`;
  }

  setNote(text) {
    this.note.hidden = !text;
    this.note.textContent = text || "";
  }

  setCaption() {
    const s = this.app.store.get();
    const d = this.data;
    const selected = s.psel.length ? ` · ${s.psel.length} selected` : "";
    this.captionText.textContent = d
      ? `${d.layer} · epoch ${d.epoch} · ${LABEL[d.method] || d.method}${selected}`
      : `${s.layer} · projection`;
  }

  /** Recomputes the highlighted points from the state and redraws (cheap: no fetching, no framing). */
  restyle() {
    if (this.root.hidden) return;
    const s = this.app.store.get();
    // A search that finds nothing in the graph fades nothing here either, unless it names one of these samples.
    const parsed = parseSearch(s.q);
    const aSample = parsed && parsed.kind === "sample" && this.data && parsed.id < this.data.x.length;
    const state = searchMisses(s.graph, s.q) && !aSample ? { ...s, q: "" } : s;
    this.highlight = this.data ? highlightedSamples(state, s.graph, this.data.labels) : null;
    this.paths = null;
    this.setCaption();
    this.draw();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    this.width = Math.max(50, this.root.clientWidth);
    this.height = Math.max(50, this.root.clientHeight);
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.dpr = dpr;
    this.reframe();
    this.draw();
  }

  reframe() {
    const d = this.data;
    this.paths = null;
    if (!d) {
      this.screen = { sx: new Float32Array(0), sy: new Float32Array(0) };
      return;
    }
    const frame = scatterFrame(d.x, d.y, this.width, this.height, { inset: CAPTION_BAND });
    this.screen = toScreen(d.x, d.y, frame);
  }

  draw() {
    const ctx = this.ctx;
    const dpr = this.dpr || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const d = this.data;
    if (!d) return;
    const theme = this.app.theme || { bg: "#fff", fg: "#222", select: "#1565c0" };
    const { faint, bright } = this.pointPaths(theme);
    fillByColour(ctx, faint, 0.15);
    fillByColour(ctx, bright, 0.9);
    if (this.highlight) {
      ctx.lineWidth = 1;
      ctx.strokeStyle = theme.fg;
      for (const p of bright.values()) ctx.stroke(p);
    }
    this.drawDrag(ctx, theme);
  }

  /**
   * The points as one path per colour and brightness (a thousand points are a few dozen fill calls), built once
   * per data, frame, highlight and theme: a drag's every mouse move redraws them with its outline on top.
   */
  pointPaths(theme) {
    const graph = this.app.store.get().graph;
    const names = graph ? graph.class_names : [];
    const nClasses = Math.max(names.length, this.labelCount);
    const key = `${theme.select}\u0000${nClasses}`;
    if (this.paths && this.paths.key === key) return this.paths;
    const { sx, sy } = this.screen;
    const labels = this.data.labels;
    const colour = (i) => (labels ? classColor(labels[i], nClasses) : theme.select);
    const hl = this.highlight;
    const faint = new Map();
    const bright = new Map();
    const add = (map, c, i, r) => {
      let p = map.get(c);
      if (!p) map.set(c, (p = new Path2D()));
      p.moveTo(sx[i] + r, sy[i]);
      p.arc(sx[i], sy[i], r, 0, 2 * Math.PI);
    };
    for (let i = 0; i < sx.length; i++) {
      if (hl && !hl.has(i)) add(faint, colour(i), i, 2.5);
      else add(bright, colour(i), i, hl ? 4 : 3);
    }
    return (this.paths = { key, faint, bright });
  }

  drawDrag(ctx, theme) {
    const g = this.drag;
    if (!g || !g.moved) return;
    ctx.beginPath();
    if (g.mode === "box") {
      const { a, b } = g;
      ctx.rect(Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(b.x - a.x), Math.abs(b.y - a.y));
    } else {
      g.path.forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
      ctx.closePath();
    }
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = theme.select;
    ctx.stroke();
    ctx.setLineDash([]);
  }

  _bindPointer() {
    const c = this.canvas;
    const at = (ev) => {
      const r = c.getBoundingClientRect();
      return { x: ev.clientX - r.left, y: ev.clientY - r.top };
    };
    c.addEventListener("mousedown", (ev) => {
      if (ev.button || !this.data) return;
      const p = at(ev);
      this.drag = { mode: ev.shiftKey || this.lasso ? "lasso" : "box", a: p, b: p, path: [p], moved: false };
      ev.preventDefault();
    });
    window.addEventListener("mousemove", (ev) => {
      const g = this.drag;
      if (!g) return;
      const p = at(ev);
      if (!g.moved && Math.hypot(p.x - g.a.x, p.y - g.a.y) < 4) return;
      g.moved = true;
      g.b = p;
      const last = g.path[g.path.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) >= 3) g.path.push(p);
      this.draw();
    });
    window.addEventListener("mouseup", () => {
      const g = this.drag;
      if (!g) return;
      this.drag = null;
      const { sx, sy } = this.screen;
      let picked;
      if (!g.moved) {
        const i = nearestPoint(sx, sy, g.a.x, g.a.y);
        picked = i === null ? [] : [i]; // a click on empty space clears
      } else {
        picked = g.mode === "box" ? pointsInBox(sx, sy, g.a, g.b) : pointsInPolygon(sx, sy, g.path);
      }
      this.app.set({ psel: picked, node: null });
      this.draw();
    });
  }

  /** Client (iframe viewport) positions of every point, by sample id (for tests: drag a box around them). */
  clientPositions() {
    const r = this.canvas.getBoundingClientRect();
    const { sx, sy } = this.screen;
    return Array.from(sx, (x, i) => [r.left + x, r.top + sy[i]]);
  }

  /** What the panel shows, for tests. */
  describe() {
    const d = this.data;
    return {
      on: this.on && !this.root.hidden,
      disabled: this.reason,
      layer: d ? d.layer : null,
      epoch: d ? d.epoch : null,
      method: d ? d.method : null,
      alignedTo: d ? d.aligned_to : null,
      points: d ? d.x.length : 0,
      caption: this.captionText.textContent,
      note: this.note.hidden ? null : this.note.textContent,
      width: this.width,
      highlighted: this.highlight ? [...this.highlight].sort((a, b) => a - b) : null,
    };
  }
}
