// One graph on a canvas: nodes at the positions the layout gives (layoutchain.js), moved there in a short tween
// from where their predecessors were drawn; zoom and pan (d3-zoom), a node dragged with the mouse, hit testing,
// the tooltip, the caption, and the count of nodes a user's zoom leaves outside. Framing follows frame.js: an
// automatic view frames the box it is given (its layer's layouts over every epoch) and keeps that frame while
// the box stays in view; a user's zoom is kept until Fit.

import { select } from "d3-selection";
import { zoom as d3zoom, zoomIdentity } from "d3-zoom";
import { el, pct } from "./dom.js";
import { bounds, fitTransform, offscreen, steadyFrame } from "./frame.js";
import { nodeRadii } from "./layout.js";
import { paintGraph } from "./paint.js";

/** Height of the band at the top of a view that framing keeps free for the caption and its badge. */
export const CAPTION_BAND = 26;
/** How long nodes take to move from their predecessors' places to their own. */
export const TWEEN_MS = 280;

const ease = (t) => (t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2);

export class GraphView {
  constructor(parent, { testid, onClick, onHover, onUserZoom } = {}) {
    this.root = el("div", { cls: "graph-view", testid: `${testid}-view` });
    this.canvas = el("canvas", { testid, attrs: { "aria-label": "Mapper graph" } });
    this.tooltip = el("div", { cls: "tooltip", testid: `${testid}-tooltip` });
    this.tooltip.hidden = true;
    this.caption = el("div", { cls: "graph-caption", testid: `${testid}-caption` });
    this.captionText = el("span", { testid: `${testid}-caption-text` });
    this.badge = el("span", { cls: "health-badge", testid: `${testid}-health` });
    this.badge.hidden = true;
    this.caption.append(this.captionText, this.badge);
    // Shown while the user's own zoom leaves nodes outside the view: how many, and a way back to all of them.
    this.offscreenBtn = el("button", {
      cls: "offscreen",
      testid: `${testid}-offscreen`,
      title: "Some nodes are outside the view: click to fit the whole graph",
    });
    this.offscreenBtn.hidden = true;
    this.offscreenBtn.addEventListener("click", () => this.fit());
    this.root.append(this.canvas, this.tooltip, this.caption, this.offscreenBtn);
    parent.appendChild(this.root);
    this.ctx = this.canvas.getContext("2d");
    this.onClick = onClick || (() => {});
    this.onHover = onHover || (() => {});
    this.onUserZoom = onUserZoom || (() => {});
    this.onFit = () => {};
    this.transform = zoomIdentity;
    this.graph = null;
    this.nodes = [];
    this.links = [];
    this.layout = []; // the layout's positions (what Fit puts dragged nodes back to)
    this.box = null; // what an automatic frame must hold
    this.style = { colorMode: "classes", sizeMode: "sqrt", threshold: 0, focus: null, tracked: null, selected: null, linked: null };
    this.hovered = null;
    this.autoFit = true;
    this.theme = { fg: "#222", edge: "90, 90, 90", bg: "#fff", accent: "#f57c00", select: "#1565c0" };
    this.frame = 0;
    this.tween = null;
    this.drawCount = 0;
    this.drawnEdges = 0;
    this.lastDrawMs = 0;
    this.zoom = d3zoom()
      .scaleExtent([0.02, 30])
      .filter((ev) => {
        if (ev.type === "mousedown" && this.hit(ev) !== null) return false; // node drag instead of pan
        return (!ev.ctrlKey || ev.type === "wheel") && !ev.button;
      })
      .on("zoom", (ev) => {
        this.transform = ev.transform;
        if (ev.sourceEvent) {
          this.autoFit = false; // the user took over the view: keep their zoom, show what it leaves out
          this.onUserZoom(this);
        }
        this.requestDraw();
      });
    select(this.canvas).call(this.zoom).on("dblclick.zoom", null);
    this._bindPointer();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.root);
    this.resize();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(50, this.root.clientWidth);
    const h = Math.max(50, this.root.clientHeight);
    if (w === this.width && h === this.height && dpr === this.dpr) return;
    this.width = w;
    this.height = h;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.dpr = dpr;
    if (this.autoFit) this.fitTo(this.frameBox(), true);
    this.drawNow();
  }

  setTheme(theme) {
    this.theme = theme;
    this.requestDraw();
  }

  /**
   * Shows graph `g` with its layout `positions` (`[{x, y}]`, graph coordinates). With `from` (start positions,
   * one per node: where each node's predecessors are drawn now), nodes move there in a short tween; the end
   * state is the layout, however the view got there. `box` is what an automatic frame holds (default: this
   * layout's discs).
   */
  show(g, positions, { from = null, box = null } = {}) {
    this.graph = g;
    this.hovered = null;
    this.tooltip.hidden = true;
    const r = nodeRadii(g, this.style.sizeMode);
    this.layout = positions;
    this.nodes = g.nodes.map((n, i) => ({ index: i, x: positions[i].x, y: positions[i].y, r: r[i] }));
    this.links = g.links.map((l) => ({ source: this.nodes[l.s], target: this.nodes[l.t], jaccard: l.jaccard }));
    this.tween = null;
    if (from && from.length === this.nodes.length && this.nodes.length) {
      this.tween = { from, start: performance.now() };
      this.nodes.forEach((d, i) => Object.assign(d, from[i]));
    }
    this.box = box;
    if (this.autoFit) this.fitTo(this.frameBox());
    this.drawNow();
    if (this.tween) this.requestDraw();
  }

  /** The box an automatic frame must hold: the one given with the graph, and the nodes as drawn. */
  frameBox() {
    const drawn = this.contentBounds();
    if (!this.box) return drawn;
    if (!drawn) return this.box;
    return {
      x0: Math.min(this.box.x0, drawn.x0),
      y0: Math.min(this.box.y0, drawn.y0),
      x1: Math.max(this.box.x1, drawn.x1),
      y1: Math.max(this.box.y1, drawn.y1),
    };
  }

  /** Ends the tween at once: every node at its place in the layout. */
  finishLayout() {
    if (!this.tween) return;
    this.tween = null;
    this.nodes.forEach((d, i) => Object.assign(d, this.layout[i]));
    this.drawNow();
  }

  _step(now) {
    const tw = this.tween;
    if (!tw) return;
    const p = Math.min(1, (now - tw.start) / TWEEN_MS);
    const e = ease(p);
    this.nodes.forEach((d, i) => {
      d.x = tw.from[i].x + (this.layout[i].x - tw.from[i].x) * e;
      d.y = tw.from[i].y + (this.layout[i].y - tw.from[i].y) * e;
    });
    if (p >= 1) this.tween = null;
  }

  /** The box of every node disc as drawn, in graph coordinates. */
  contentBounds() {
    return bounds(this.nodes);
  }

  /** Node centres outside the canvas under the current zoom. */
  offscreenCount() {
    return offscreen(this.nodes, this.transform, this.width, this.height).count;
  }

  /** Node positions as drawn, in graph coordinates (what the next graph's tween starts from). */
  positions() {
    return this.nodes.map((n) => ({ x: n.x, y: n.y }));
  }

  setStyle(patch) {
    const sizeChanged = patch.sizeMode && patch.sizeMode !== this.style.sizeMode;
    Object.assign(this.style, patch);
    if (sizeChanged && this.graph) {
      const r = nodeRadii(this.graph, this.style.sizeMode);
      this.nodes.forEach((d, i) => (d.r = r[i]));
    }
    this.requestDraw();
  }

  /** The caption: what the view shows, and a badge with the layer's health warning (text, never markup). */
  setCaption(text, warning = null) {
    this.captionText.textContent = text;
    this.badge.hidden = !warning;
    this.badge.textContent = warning ? `⚠ ${warning.short}` : "";
    this.badge.title = warning ? warning.text : "";
  }

  /** Fit the whole graph into the view, put dragged nodes back, and go back to automatic framing (Fit). */
  fit() {
    this.autoFit = true;
    this.tween = null;
    this.nodes.forEach((d, i) => Object.assign(d, this.layout[i]));
    this.onFit(this);
    this.fitTo(this.frameBox(), true);
    this.requestDraw();
  }

  /**
   * Frames `box` (graph coordinates) below the caption band: by the frame rule (frame.js steadyFrame: the zoom
   * stays while the box stays in view), or afresh with `force`.
   */
  fitTo(box, force = false) {
    if (!box) return;
    const opts = { inset: CAPTION_BAND };
    const t = force ? fitTransform(box, this.width, this.height, opts) : steadyFrame(this.transform, box, this.width, this.height, opts);
    if (t === this.transform) return;
    this.setTransform(t);
  }

  setTransform(t) {
    select(this.canvas).call(this.zoom.transform, zoomIdentity.translate(t.x, t.y).scale(t.k));
  }

  /** Client (iframe viewport) coordinates of node `i`'s centre, or null. */
  clientPosition(i) {
    const n = this.nodes[i];
    if (!n) return null;
    const rect = this.canvas.getBoundingClientRect();
    const [x, y] = this.transform.apply([n.x, n.y]);
    return { x: rect.left + x, y: rect.top + y, r: n.r * this.transform.k };
  }

  /** The node under a mouse event, or null: the nearest whose disc (plus a small margin) contains it. */
  hit(ev) {
    if (!this.nodes.length) return null;
    const rect = this.canvas.getBoundingClientRect();
    const [x, y] = this.transform.invert([ev.clientX - rect.left, ev.clientY - rect.top]);
    const slack = 3 / this.transform.k;
    let best = null;
    let bestD = Infinity;
    for (const n of this.nodes) {
      const d = Math.hypot(n.x - x, n.y - y);
      if (d <= n.r + slack && d < bestD) {
        best = n.index;
        bestD = d;
      }
    }
    return best;
  }

  _bindPointer() {
    let drag = null;
    let suppressClick = false;
    const c = this.canvas;
    c.addEventListener("mousedown", (ev) => {
      if (ev.button) return;
      const i = this.hit(ev);
      if (i === null) return;
      drag = { i, x: ev.clientX, y: ev.clientY, moved: false };
      ev.preventDefault();
    });
    window.addEventListener("mousemove", (ev) => {
      if (drag) {
        if (!drag.moved && Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y) < 3) return;
        drag.moved = true;
        this.finishLayout();
        const rect = c.getBoundingClientRect();
        const [x, y] = this.transform.invert([ev.clientX - rect.left, ev.clientY - rect.top]);
        Object.assign(this.nodes[drag.i], { x, y });
        this.requestDraw();
        return;
      }
      if (ev.target !== c) return;
      const i = this.hit(ev);
      if (i !== this.hovered) {
        this.hovered = i;
        c.style.cursor = i === null ? "" : "pointer";
        this.onHover(i);
        this.requestDraw();
      }
      this._tooltip(i, ev);
    });
    window.addEventListener("mouseup", () => {
      if (!drag) return;
      if (drag.moved) suppressClick = true;
      drag = null;
    });
    c.addEventListener("mouseleave", () => {
      if (this.hovered !== null) {
        this.hovered = null;
        this.onHover(null);
        this.requestDraw();
      }
      this.tooltip.hidden = true;
    });
    c.addEventListener("click", (ev) => {
      if (suppressClick) {
        suppressClick = false;
        return;
      }
      this.onClick(this.hit(ev));
    });
  }

  _tooltip(i, ev) {
    if (i === null || !this.graph) {
      this.tooltip.hidden = true;
      return;
    }
    const n = this.graph.nodes[i];
    let text = `node ${n.id} · ${n.size} samples`;
    if (n.dominant >= 0 && n.labelled) {
      const name = this.graph.class_names[n.dominant] ?? String(n.dominant);
      text += ` · ${((100 * n.classes[n.dominant]) / n.labelled).toFixed(0)}% ${name}`;
    }
    if (n.mean_correct !== undefined && n.mean_correct !== null) text += ` · acc ${pct(n.mean_correct)}`;
    this.tooltip.textContent = text;
    const rect = this.root.getBoundingClientRect();
    this.tooltip.hidden = false;
    // Beside the pointer, flipped to its other side where it would be cut off by the view's edge (narrow views
    // in compare and layers mode).
    const x = ev.clientX - rect.left;
    const y = ev.clientY - rect.top;
    const w = this.tooltip.offsetWidth;
    const h = this.tooltip.offsetHeight;
    this.tooltip.style.left = `${Math.max(0, x + 12 + w > rect.width ? x - 12 - w : x + 12)}px`;
    this.tooltip.style.top = `${Math.max(0, y + 12 + h > rect.height ? y - 12 - h : y + 12)}px`;
  }

  requestDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame((now) => {
      this.frame = 0;
      this.drawNow(now);
      if (this.tween) this.requestDraw();
    });
  }

  /** Shows (or hides) how many nodes the user's zoom leaves outside the view. */
  _updateOffscreen() {
    const n = this.autoFit || !this.nodes.length ? 0 : this.offscreenCount();
    if (n === this.shownOffscreen) return;
    this.shownOffscreen = n;
    this.offscreenBtn.hidden = n === 0;
    this.offscreenBtn.textContent = `${n} node${n === 1 ? "" : "s"} outside the view · Fit`;
  }

  drawNow(now = performance.now()) {
    const t0 = performance.now();
    this._step(now);
    this._updateOffscreen();
    const ctx = this.ctx;
    const { dpr, transform: t } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    if (!this.graph) return;
    ctx.translate(t.x, t.y);
    ctx.scale(t.k, t.k);
    const args = { g: this.graph, nodes: this.nodes, links: this.links, style: this.style, theme: this.theme, t };
    this.drawnEdges = paintGraph(ctx, { ...args, hovered: this.hovered });
    this.drawCount++;
    this.lastDrawMs = performance.now() - t0;
  }

  destroy() {
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.root.remove();
  }
}
