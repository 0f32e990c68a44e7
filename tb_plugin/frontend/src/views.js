// Drawing side of the plugin: the graph canvas (force layout, zoom, pan, drag, hit testing), the legend, the node
// panel, the metrics chart, the comparison summary and the tracking table. Every user string (run, layer and class
// names) goes through textContent; nothing here builds HTML from strings.

import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY } from "d3-force";
import { interpolateCividis, interpolateSinebow, interpolateViridis, schemeTableau10 } from "d3-scale-chromatic";
import { select } from "d3-selection";
import { zoom as d3zoom, zoomIdentity } from "d3-zoom";
import { METRICS, bounds, chartDomain, fitTransform, offscreen, tickStep } from "./model.js";

/** Height of the band at the top of a view that framing keeps free for the caption and its badge. */
export const CAPTION_BAND = 26;

// -------------------------------------------------------------------------------------------------- helpers
/** `document.createElement` with a class, attributes and text (text only ever through textContent). */
export function el(tag, { cls, text, attrs, testid, title } = {}, children = []) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (testid) e.dataset.testid = testid;
  if (title) e.title = title;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) if (c) e.appendChild(c);
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Number.isInteger(v)) return String(v);
  return Number(v).toPrecision(digits);
}

export function pct(v) {
  return v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`;
}

/** A colour per class: Tableau 10 while it lasts, then evenly spaced hues. */
export function classColor(k, nClasses) {
  if (k < 0) return "#9e9e9e";
  if (nClasses <= 10) return schemeTableau10[k % 10];
  return interpolateSinebow(k / nClasses);
}

/** What nodes can be coloured by, given the fields the graph's nodes carry. */
export function colorModes(g) {
  const first = g.nodes[0] || {};
  const modes = [];
  if (Array.isArray(first.classes)) {
    modes.push(["classes", "class mix"], ["dominant", "dominant class"]);
  }
  const has = (f) => g.nodes.some((n) => n[f] !== null && n[f] !== undefined);
  if (has("purity")) modes.push(["purity", "purity"]);
  if (has("mean_correct")) modes.push(["mean_correct", "accuracy"]);
  if (has("mean_loss")) modes.push(["mean_loss", "mean loss"]);
  modes.push(["mean_lens", "mean lens"]);
  for (const k of Object.keys(first)) {
    // mean_prediction is a mean of class indices: it means nothing, so it is not offered.
    if (k.startsWith("mean_") && !["mean_correct", "mean_loss", "mean_lens", "mean_prediction"].includes(k) && has(k)) {
      modes.push([k, k.slice(5).replace(/_/g, " ")]);
    }
  }
  if (!modes.length) modes.push(["mean_lens", "mean lens"]);
  return modes;
}

/** The continuous colour scale of a mode: fixed domains where the quantity has one, the graph's range otherwise. */
export function continuousScale(g, mode) {
  let lo = 0;
  let hi = 1;
  // Accuracy and loss use cividis (blue to yellow: readable with any colour vision, never red against green):
  // bright is good for both, so loss runs the ramp backwards.
  let interp = interpolateViridis;
  if (mode === "mean_correct") interp = interpolateCividis;
  else if (mode !== "purity") {
    const vals = g.nodes.map((n) => n[mode]).filter((v) => v !== null && v !== undefined);
    lo = vals.length ? Math.min(...vals) : 0;
    hi = vals.length ? Math.max(...vals) : 1;
    if (mode === "mean_loss") {
      lo = 0;
      interp = (t) => interpolateCividis(1 - t);
    }
  }
  const span = hi - lo || 1;
  const color = (v) => (v === null || v === undefined ? "#9e9e9e" : interp(Math.min(1, Math.max(0, (v - lo) / span))));
  // 64 levels are indistinguishable from a continuous ramp and let nodes be drawn in 64 batches.
  const levels = Array.from({ length: 64 }, (_, i) => interp(i / 63));
  const quantized = (v) =>
    v === null || v === undefined ? "#9e9e9e" : levels[Math.round(63 * Math.min(1, Math.max(0, (v - lo) / span)))];
  return { lo, hi, color, interp, quantized };
}

/** Fills each colour's path (a Map colour -> Path2D) at `alpha`: one fill call per colour, however many shapes. */
export function fillByColour(ctx, paths, alpha) {
  ctx.globalAlpha = alpha;
  for (const [color, p] of paths) {
    ctx.fillStyle = color;
    ctx.fill(p);
  }
  ctx.globalAlpha = 1;
}

/** A seeded linear congruential generator: d3-force's own default, fresh for each graph. */
function lcg() {
  let s = 1;
  return () => (s = (1664525 * s + 1013904223) % 4294967296) / 4294967296;
}

/** Drawn radius of a node of `size` members (exported: the app packs fresh layouts with it). */
export function radiusOf(size, nSamples, mode) {
  const n = Math.max(nSamples, 1);
  if (mode === "log") return 3 + (22 * Math.log1p(size)) / Math.log1p(n);
  return 3 + 22 * Math.sqrt(size / n);
}

// ------------------------------------------------------------------------------------------------ GraphView
/**
 * One graph on a canvas. Layout is a d3-force simulation seeded with the positions it is given; drawing is
 * batched per frame; hit testing is a scan over the nodes (2,000 distance checks take well under a millisecond).
 */
export class GraphView {
  constructor(parent, { testid, onClick, onHover, onUserZoom } = {}) {
    this.root = el("div", { cls: "graph-view", testid: `${testid}-view` });
    this.canvas = el("canvas", { testid, attrs: { "aria-label": "Mapper graph" } });
    this.tooltip = el("div", { cls: "tooltip", testid: `${testid}-tooltip` });
    this.tooltip.hidden = true;
    this.caption = el("div", { cls: "graph-caption", testid: `${testid}-caption` });
    this.captionText = el("span", { testid: `${testid}-caption-text` });
    this.caption.appendChild(this.captionText);
    // Shown while the user's own zoom leaves nodes outside the view: how many, and a way back to all of them.
    this.offscreenBtn = el("button", {
      cls: "offscreen",
      testid: `${testid}-offscreen`,
      title: "Some nodes are outside the view: click to fit the whole graph",
    });
    this.offscreenBtn.hidden = true;
    this.offscreenBtn.addEventListener("click", () => this.fit());
    this.root.append(this.canvas, this.tooltip, this.caption, this.offscreenBtn);
    this.onUserZoom = onUserZoom || (() => {});
    this.onFit = () => {};
    parent.appendChild(this.root);
    this.ctx = this.canvas.getContext("2d");
    this.onClick = onClick || (() => {});
    this.onHover = onHover || (() => {});
    this.transform = zoomIdentity;
    this.graph = null;
    this.nodes = [];
    this.links = [];
    this.style = { colorMode: "classes", sizeMode: "sqrt", threshold: 0, focus: null, tracked: null, selected: null, linked: null };
    this.hovered = null;
    this.autoFit = true;
    this.theme = { fg: "#222", edge: "90, 90, 90", bg: "#fff", accent: "#f57c00", select: "#1565c0" };
    this.frame = 0;
    this.drawCount = 0;
    this.lastDrawMs = 0;
    this.sim = forceSimulation()
      .alphaMin(0.005)
      .alphaDecay(0.05)
      .velocityDecay(0.45)
      .stop()
      .on("tick", () => this._tick())
      .on("end", () => this._layoutDone());
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
    this.width = w;
    this.height = h;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.dpr = dpr;
    if (this.autoFit) this.reframe();
    this.drawNow();
  }

  setTheme(theme) {
    this.theme = theme;
    this.requestDraw();
  }

  /**
   * Show `g`, starting each node at `seeds[i]` ({x, y}). `relax` is the simulation heat: high for a first layout,
   * low for an epoch switch so that the picture changes only where the graph did. `budgetMs` of layout run
   * synchronously before the first frame (a first layout needs some; a switch needs none).
   */
  setGraph(g, seeds, { relax = 0.3, budgetMs = 0, targets = null } = {}) {
    this.graph = g;
    this.hovered = null;
    this.tooltip.hidden = true;
    const nSamples = g.n_samples || 1;
    this.nodes = g.nodes.map((n, i) => ({
      index: i,
      x: seeds[i].x,
      y: seeds[i].y,
      vx: 0,
      vy: 0,
      r: radiusOf(n.size ?? n.members.length, nSamples, this.style.sizeMode),
    }));
    this.links = g.links.map((l) => ({ source: l.s, target: l.t, jaccard: l.jaccard }));
    const many = this.nodes.length > 800;
    // Each component is held at its own centre (`targets`), so packed components stay apart; the same seeds
    // give the same layout (a fresh random source per graph), whichever graph was shown before.
    const tx = targets ? (d) => targets[d.index].x : 0;
    const ty = targets ? (d) => targets[d.index].y : 0;
    // The previous graph's forces would be re-initialized with the new nodes (and its targets): drop them first.
    for (const name of ["link", "charge", "collide", "x", "y"]) this.sim.force(name, null);
    this.sim
      .randomSource(lcg())
      .nodes(this.nodes)
      .force(
        "link",
        forceLink(this.links)
          .distance((l) => l.source.r + l.target.r + 6 + 20 * (1 - l.jaccard))
          .iterations(1),
      )
      .force("charge", forceManyBody().strength(many ? -12 : -30).theta(0.95).distanceMax(many ? 250 : 400))
      .force("collide", forceCollide((d) => d.r + 1).iterations(1))
      .force("x", forceX(tx).strength(many ? 0.02 : 0.04))
      .force("y", forceY(ty).strength(many ? 0.02 : 0.04));
    this.sim.alpha(relax);
    if (budgetMs > 0) {
      const t0 = performance.now();
      while (performance.now() - t0 < budgetMs && this.sim.alpha() > this.sim.alphaMin()) this.sim.tick();
    }
    this.reframe();
    this.drawNow();
    if (this.sim.alpha() > this.sim.alphaMin()) this.sim.restart();
  }

  _tick() {
    // While the layout moves, a framed view follows it outwards: no node drifts off the canvas.
    if (this.autoFit && this.nodes.length && this.offscreenCount() > 0) this.reframe();
    this.requestDraw();
  }

  _layoutDone() {
    if (this.autoFit) this.reframe();
    this.requestDraw();
  }

  /**
   * Frames the graph when the view is automatic (the user has not zoomed since the last fit): through the
   * framer the app gives (compare mode fits both views to one shared box), or on this graph alone.
   */
  reframe() {
    if (!this.autoFit || !this.nodes.length) return;
    if (this.framer) this.framer(this);
    else this.fitTo(this.contentBounds());
  }

  /** The box of every node disc, in graph coordinates. */
  contentBounds() {
    return bounds(this.nodes);
  }

  /** Node centres outside the canvas under the current zoom. */
  offscreenCount() {
    return offscreen(this.nodes, this.transform, this.width, this.height).count;
  }

  /** Runs the layout to its end at once (no animation) and draws the result. */
  finishLayout() {
    this.sim.stop();
    while (this.sim.alpha() > this.sim.alphaMin()) this.sim.tick();
    this._layoutDone();
    this.drawNow();
  }

  /** Node positions in graph coordinates (what the next epoch is seeded from). */
  positions() {
    return this.nodes.map((n) => ({ x: n.x, y: n.y }));
  }

  setStyle(patch) {
    const sizeChanged = patch.sizeMode && patch.sizeMode !== this.style.sizeMode;
    Object.assign(this.style, patch);
    if (sizeChanged && this.graph) {
      const nSamples = this.graph.n_samples || 1;
      this.nodes.forEach((d, i) => {
        const n = this.graph.nodes[i];
        d.r = radiusOf(n.size ?? n.members.length, nSamples, this.style.sizeMode);
      });
      this.sim.force("collide", forceCollide((d) => d.r + 1).iterations(1));
      this.sim.alpha(0.2).restart();
    }
    this.requestDraw();
  }

  /** The caption: what the view shows, and a badge with the layer's health warning (text, never markup). */
  setCaption(text, warning = null) {
    this.captionText.textContent = text;
    if (!this.badge) {
      this.badge = el("span", { cls: "health-badge", testid: `${this.canvas.dataset.testid}-health` });
      this.caption.appendChild(this.badge);
    }
    this.badge.hidden = !warning;
    this.badge.textContent = warning ? `⚠ ${warning.short}` : "";
    this.badge.title = warning ? warning.text : "";
  }

  /** Fit the whole graph into the view and go back to automatic framing (the Fit button). */
  fit() {
    this.autoFit = true;
    this.onFit(this);
    this.reframe();
    this.requestDraw();
  }

  /** Zoom so that `box` (graph coordinates) fills the view below the caption band. */
  fitTo(box) {
    if (!box) return;
    const t = fitTransform(box, this.width, this.height, { inset: CAPTION_BAND });
    select(this.canvas).call(this.zoom.transform, zoomIdentity.translate(t.x, t.y).scale(t.k));
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
        const rect = c.getBoundingClientRect();
        const [x, y] = this.transform.invert([ev.clientX - rect.left, ev.clientY - rect.top]);
        const n = this.nodes[drag.i];
        n.fx = x;
        n.fy = y;
        this.sim.alphaTarget(0.15).restart();
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
      if (drag.moved) {
        const n = this.nodes[drag.i];
        n.fx = null;
        n.fy = null;
        this.sim.alphaTarget(0);
        suppressClick = true;
      }
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
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.drawNow();
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

  drawNow() {
    const t0 = performance.now();
    this._updateOffscreen();
    const ctx = this.ctx;
    const { dpr, transform: t } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    if (!this.graph) return;
    ctx.translate(t.x, t.y);
    ctx.scale(t.k, t.k);
    const g = this.graph;
    const { colorMode, threshold, focus, tracked, selected, linked } = this.style;
    const dimmed = (i) => (focus && !focus.has(i)) || (tracked && tracked.size && !tracked.has(i));

    // Edges, batched into four width classes (one stroke each) and a dimmed batch.
    const buckets = [[], [], [], []];
    const faint = [];
    for (const l of this.links) {
      if (l.jaccard < threshold) continue;
      const s = l.source;
      const d = l.target;
      if (dimmed(s.index) && dimmed(d.index)) faint.push(l);
      else buckets[Math.min(3, Math.floor(l.jaccard * 4))].push(l);
    }
    const strokeBatch = (list, width, alpha) => {
      if (!list.length) return;
      ctx.beginPath();
      for (const l of list) {
        ctx.moveTo(l.source.x, l.source.y);
        ctx.lineTo(l.target.x, l.target.y);
      }
      ctx.lineWidth = width / t.k;
      ctx.strokeStyle = `rgba(${this.theme.edge}, ${alpha})`;
      ctx.stroke();
    };
    this.drawnEdges = faint.length + buckets.reduce((n, b) => n + b.length, 0);
    strokeBatch(faint, 0.6, 0.12);
    buckets.forEach((list, b) => strokeBatch(list, 0.7 + 1.2 * b, 0.35 + 0.15 * b));

    // Nodes, batched by fill colour (one Path2D per colour, dimmed ones apart) so a 2,000-node frame is a few
    // dozen fill calls instead of thousands.
    const nClasses = g.class_names.length;
    const scale = colorMode === "classes" || colorMode === "dominant" ? null : continuousScale(g, colorMode);
    const bright = new Map();
    const faintFill = new Map();
    const outline = new Path2D();
    const pathFor = (map, color) => {
      let p = map.get(color);
      if (!p) map.set(color, (p = new Path2D()));
      return p;
    };
    const palette = Array.from({ length: Math.max(nClasses, 1) }, (_, k) => classColor(k, nClasses));
    for (const d of this.nodes) {
      const n = g.nodes[d.index];
      const map = dimmed(d.index) ? faintFill : bright;
      outline.moveTo(d.x + d.r, d.y);
      outline.arc(d.x, d.y, d.r, 0, 2 * Math.PI);
      if (colorMode === "classes" && n.labelled > 0 && n.classes[n.dominant] < n.labelled) {
        let a = -Math.PI / 2;
        for (let k = 0; k < n.classes.length; k++) {
          const c = n.classes[k];
          if (!c) continue;
          const da = (2 * Math.PI * c) / n.labelled;
          const p = pathFor(map, palette[k] || classColor(k, nClasses));
          p.moveTo(d.x, d.y);
          p.arc(d.x, d.y, d.r, a, a + da);
          p.closePath();
          a += da;
        }
      } else {
        let color;
        if (scale) color = scale.quantized(n[colorMode]);
        else color = n.dominant >= 0 ? palette[n.dominant] || classColor(n.dominant, nClasses) : classColor(-1, nClasses);
        const p = pathFor(map, color);
        p.moveTo(d.x + d.r, d.y);
        p.arc(d.x, d.y, d.r, 0, 2 * Math.PI);
      }
    }
    fillByColour(ctx, faintFill, 0.15);
    fillByColour(ctx, bright, 1);
    ctx.lineWidth = 0.8 / t.k;
    ctx.strokeStyle = this.theme.bg;
    ctx.stroke(outline);

    // Rings: tracked samples, linked (compare), hovered, selected.
    const ring = (i, color, width, gap) => {
      const d = this.nodes[i];
      if (!d) return;
      ctx.beginPath();
      ctx.arc(d.x, d.y, d.r + gap / t.k, 0, 2 * Math.PI);
      ctx.lineWidth = width / t.k;
      ctx.strokeStyle = color;
      ctx.stroke();
    };
    if (tracked) for (const i of tracked) ring(i, this.theme.accent, 2.5, 2);
    if (linked) for (const i of linked) ring(i, this.theme.select, 3, 3);
    if (this.hovered !== null) ring(this.hovered, this.theme.fg, 1.5, 2);
    if (selected !== null && selected !== undefined) ring(selected, this.theme.select, 3.5, 3);
    this.drawCount++;
    this.lastDrawMs = performance.now() - t0;
  }

  destroy() {
    this.sim.stop();
    this.resizeObserver.disconnect();
    this.root.remove();
  }
}

// --------------------------------------------------------------------------------------------------- legend
/** Class swatches (click one to highlight its nodes) or the colour ramp of a continuous mode. */
export function renderLegend(container, g, mode, activeClass, onToggleClass) {
  container.textContent = "";
  if (!g) return;
  if (mode === "classes" || mode === "dominant") {
    const n = g.class_names.length;
    if (!n) {
      container.appendChild(el("div", { cls: "muted", text: "No class labels were logged." }));
      return;
    }
    const list = el("div", { cls: "legend-classes" });
    g.class_names.forEach((name, k) => {
      const b = el("button", {
        cls: `legend-item${activeClass === k ? " active" : ""}`,
        testid: "legend-class",
        title: "Highlight the nodes holding this class",
      });
      b.dataset.class = String(k);
      const sw = el("span", { cls: "swatch" });
      sw.style.background = classColor(k, n);
      b.append(sw, el("span", { cls: "legend-name", text: name }));
      b.addEventListener("click", () => onToggleClass(activeClass === k ? null : k));
      list.appendChild(b);
    });
    container.appendChild(list);
    return;
  }
  const s = continuousScale(g, mode);
  const bar = el("div", { cls: "legend-ramp" });
  const stops = Array.from({ length: 11 }, (_, i) => s.interp(i / 10));
  bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  container.append(
    bar,
    el("div", { cls: "legend-ends" }, [el("span", { text: fmt(s.lo) }), el("span", { text: fmt(s.hi) })]),
  );
}

// ----------------------------------------------------------------------------------------------- node panel
/**
 * The clicked node's details: size, class composition (counts and percentages), accuracy, loss, lens, purity,
 * member ids and, when the run logged them, thumbnails of the member inputs.
 */
export function renderNodePanel(container, g, index, { thumbnailUrl, onTrack, onClose, maxThumbs = 48 }) {
  container.textContent = "";
  if (!g || index === null || index === undefined || !g.nodes[index]) {
    container.hidden = true;
    return;
  }
  container.hidden = false;
  const n = g.nodes[index];
  const head = el("div", { cls: "panel-head" }, [
    el("strong", { text: `Node ${n.id}`, testid: "panel-title" }),
    el("span", { cls: "muted", text: ` cover element ${n.cover}` }),
  ]);
  const close = el("button", { cls: "icon", text: "×", title: "Close", testid: "panel-close" });
  close.addEventListener("click", onClose);
  head.appendChild(close);
  container.appendChild(head);

  const rows = [
    ["samples", `${n.size} (${pct(n.size / (g.n_samples || 1))} of ${g.n_samples})`, "size"],
    ["accuracy", pct(n.mean_correct), "accuracy"],
    ["mean loss", fmt(n.mean_loss), "loss"],
    ["mean lens", fmt(n.mean_lens), "lens"],
    ["purity", fmt(n.purity), "purity"],
  ];
  const table = el("table", { cls: "kv" });
  for (const [k, v, id] of rows) {
    table.appendChild(el("tr", {}, [el("th", { text: k }), el("td", { text: v, testid: `panel-${id}` })]));
  }
  container.appendChild(table);

  if (Array.isArray(n.classes) && n.labelled > 0) {
    container.appendChild(el("div", { cls: "section-title", text: "Class composition" }));
    const comp = el("table", { cls: "composition", testid: "panel-classes" });
    const order = n.classes.map((c, k) => [c, k]).filter(([c]) => c > 0).sort((a, b) => b[0] - a[0]);
    for (const [c, k] of order) {
      const sw = el("span", { cls: "swatch" });
      sw.style.background = classColor(k, g.class_names.length);
      const bar = el("span", { cls: "bar" });
      bar.style.width = `${(100 * c) / n.labelled}%`;
      bar.style.background = classColor(k, g.class_names.length);
      const tr = el("tr", { testid: "panel-class-row" }, [
        el("td", {}, [sw]),
        el("td", { cls: "cls-name", text: g.class_names[k] ?? String(k) }),
        el("td", { cls: "num", text: String(c), testid: "panel-class-count" }),
        el("td", { cls: "num", text: pct(c / n.labelled) }),
        el("td", { cls: "bar-cell" }, [bar]),
      ]);
      tr.dataset.class = String(k);
      comp.appendChild(tr);
    }
    container.appendChild(comp);
  }

  const members = n.members;
  container.appendChild(el("div", { cls: "section-title", text: `Members (${members.length})` }));
  const shown = members.slice(0, 300).join(", ");
  container.appendChild(
    el("div", {
      cls: "members",
      testid: "panel-members",
      text: members.length > 300 ? `${shown}, … and ${members.length - 300} more` : shown,
    }),
  );
  const track = el("button", { text: "Track these samples across epochs", testid: "panel-track" });
  track.addEventListener("click", () => onTrack(members));
  container.appendChild(track);

  if (thumbnailUrl) {
    const grid = el("div", { cls: "thumbs", testid: "panel-thumbs" });
    for (const s of members.slice(0, maxThumbs)) {
      const img = el("img", { attrs: { alt: `sample ${s}`, loading: "lazy", width: "40", height: "40" } });
      img.title = `sample ${s}`;
      img.src = thumbnailUrl(s);
      grid.appendChild(img);
    }
    container.appendChild(grid);
    if (members.length > maxThumbs) {
      container.appendChild(el("div", { cls: "muted", text: `first ${maxThumbs} of ${members.length} shown` }));
    }
  }
}

// --------------------------------------------------------------------------------------------- metric chart
/** A line chart of one metric across epochs, the current epoch marked; click a point to go there. */
export function renderMetricChart(container, data, metric, epoch, onPick) {
  container.textContent = "";
  if (!data || !data.epochs || !data.epochs.length || !data.metrics[metric]) return;
  const W = 290;
  const H = 120;
  const m = { l: 38, r: 8, t: 8, b: 20 };
  const xs = data.epochs;
  const ys = data.metrics[metric];
  const kind = (METRICS[metric] || {}).kind || "real";
  const { lo, hi, ticks } = chartDomain(ys, kind);
  const x0 = xs[0];
  const x1 = xs[xs.length - 1];
  const sx = (x) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y) => H - m.b - ((y - lo) / (hi - lo || 1)) * (H - m.t - m.b);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart" });
  root.dataset.testid = "metric-chart";
  root.dataset.lo = String(lo);
  root.dataset.hi = String(hi);
  root.appendChild(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }));
  root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
  for (const v of ticks) {
    const y = sy(v);
    root.appendChild(svg("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: "grid" }));
    const t = svg("text", { x: m.l - 3, y: y + 3, class: "tick", "text-anchor": "end" });
    t.textContent = String(Number(v.toPrecision(3)));
    t.dataset.testid = "metric-tick";
    root.appendChild(t);
  }
  const xStep = Math.max(1, Math.round(tickStep(x1 - x0, 5)));
  for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
    const t = svg("text", { x: sx(x), y: H - 6, class: "tick", "text-anchor": "middle" });
    t.textContent = String(x);
    root.appendChild(t);
  }
  const problems = (data.problems && Object.keys(data.problems).map(Number)) || [];
  for (const e of problems) {
    if (!xs.includes(e)) continue;
    const band = svg("line", { x1: sx(e), x2: sx(e), y1: m.t, y2: H - m.b, class: "problem-mark" });
    const tip = svg("title");
    tip.textContent = `epoch ${e}: ${data.problems[e]}`;
    band.appendChild(tip);
    root.appendChild(band);
  }
  if (epoch !== null && epoch !== undefined) {
    const marker = svg("line", { x1: sx(epoch), x2: sx(epoch), y1: m.t, y2: H - m.b, class: "marker" });
    marker.dataset.testid = "metric-marker";
    marker.dataset.epoch = String(epoch);
    root.appendChild(marker);
  }
  let d = "";
  xs.forEach((x, i) => {
    const y = ys[i];
    if (y === null || y === undefined) return;
    d += `${d ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
  });
  root.appendChild(svg("path", { d, class: "line" }));
  xs.forEach((x, i) => {
    const y = ys[i];
    if (y === null || y === undefined) return;
    const c = svg("circle", { cx: sx(x), cy: sy(y), r: x === epoch ? 4 : 2.5, class: x === epoch ? "pt current" : "pt" });
    const tip = svg("title");
    tip.textContent = `epoch ${x}: ${fmt(y)}`;
    c.appendChild(tip);
    c.addEventListener("click", () => onPick(x));
    root.appendChild(c);
  });
  container.appendChild(root);
}

// ------------------------------------------------------------------------------------------ compare summary
/** Counts and lists of splits, merges, births and deaths; hovering an entry lights its nodes up in both views. */
/**
 * The comparison read forward in time: "from epoch X to epoch Y", then counts and lists of splits, merges, births
 * and deaths. `cmp` is the route's answer for (earlier, later); `flipped` says the earlier graph is view B.
 * Hovering an entry lights its nodes up in both views (`onHoverEvent(idsInA, idsInB)`).
 */
export function renderCompareSummary(container, cmp, flipped, onHoverEvent) {
  container.textContent = "";
  if (!cmp) return;
  const [fromView, toView] = flipped ? ["B", "A"] : ["A", "B"];
  const where = (s) => `${s.run} / ${s.layer}`;
  const sameWhere = where(cmp.a) === where(cmp.b);
  const label = (s) => (sameWhere ? `epoch ${s.epoch}` : `${where(s)} @ epoch ${s.epoch}`);
  container.appendChild(
    el("div", { cls: "compare-title", testid: "compare-title" }, [
      el("span", { text: `From ${label(cmp.a)} (${fromView})`, testid: "compare-from" }),
      el("span", { text: " to " }),
      el("span", { text: `${label(cmp.b)} (${toView})`, testid: "compare-to" }),
      sameWhere ? el("div", { cls: "muted", text: where(cmp.a) }) : null,
    ]),
  );
  const counts = [
    ["matched", cmp.matches.length],
    ["splits", cmp.splits.length],
    ["merges", cmp.merges.length],
    ["births", cmp.births.length],
    ["deaths", cmp.deaths.length],
    ["distance", fmt(cmp.distance)],
  ];
  const row = el("div", { cls: "compare-counts", testid: "compare-counts" });
  for (const [k, v] of counts) {
    const c = el("span", { cls: "count" }, [el("b", { text: String(v) }), el("span", { text: ` ${k}` })]);
    c.dataset.kind = k;
    row.appendChild(c);
  }
  container.appendChild(row);
  const list = el("ul", { cls: "events" });
  // Route ids: "from" nodes are the earlier graph's, "into" the later's; hover wants (view A ids, view B ids).
  const hover = (fromIds, intoIds) => (flipped ? onHoverEvent(intoIds, fromIds) : onHoverEvent(fromIds, intoIds));
  const item = (text, from, into) => {
    const li = el("li", { text });
    li.addEventListener("mouseenter", () => hover(from, into));
    li.addEventListener("mouseleave", () => onHoverEvent(null, null));
    list.appendChild(li);
  };
  const F = fromView;
  const T = toView;
  const cap = 8;
  for (const s of cmp.splits.slice(0, cap)) item(`split: ${F}${s.from} → ${T}${s.into.join(`, ${T}`)}`, [s.from], s.into);
  for (const s of cmp.merges.slice(0, cap)) item(`merge: ${F}${s.from.join(`, ${F}`)} → ${T}${s.into}`, s.from, [s.into]);
  if (cmp.births.length) item(`born in ${T}: ${cmp.births.slice(0, 12).join(", ")}${cmp.births.length > 12 ? " …" : ""}`, [], cmp.births);
  if (cmp.deaths.length) item(`gone from ${F}: ${cmp.deaths.slice(0, 12).join(", ")}${cmp.deaths.length > 12 ? " …" : ""}`, cmp.deaths, []);
  container.appendChild(list);
}

// -------------------------------------------------------------------------------------------- track table
/** Where the tracked samples sit at every epoch (node counts per epoch, from the track route). */
export function renderTrack(container, samples, data, currentEpoch, { onClear, onPick }) {
  container.textContent = "";
  if (!samples.length) {
    container.hidden = true;
    return;
  }
  container.hidden = false;
  const head = el("div", { cls: "panel-head" }, [
    el("strong", { text: `Tracking ${samples.length} sample${samples.length > 1 ? "s" : ""}` }),
  ]);
  const clear = el("button", { cls: "icon", text: "×", title: "Stop tracking", testid: "track-clear" });
  clear.addEventListener("click", onClear);
  head.appendChild(clear);
  container.appendChild(head);
  const preview = samples.slice(0, 20).join(", ") + (samples.length > 20 ? ", …" : "");
  container.appendChild(el("div", { cls: "muted", text: `samples ${preview}` }));
  if (!data) {
    container.appendChild(el("div", { cls: "muted", text: "loading…" }));
    return;
  }
  const table = el("table", { cls: "track", testid: "track-table" });
  table.appendChild(el("tr", {}, [el("th", { text: "epoch" }), el("th", { text: "nodes holding them" })]));
  for (const e of data.epochs) {
    const perSample = data.nodes[String(e)] || data.nodes[e] || {};
    const nodes = new Set();
    for (const list of Object.values(perSample)) for (const i of list || []) nodes.add(i);
    const sorted = [...nodes].sort((a, b) => a - b);
    const text = sorted.length ? `${sorted.length}: ${sorted.slice(0, 10).join(", ")}${sorted.length > 10 ? " …" : ""}` : "none";
    const tr = el("tr", { cls: e === currentEpoch ? "current" : "" }, [el("td", { text: String(e) }), el("td", { text })]);
    tr.addEventListener("click", () => onPick(e));
    table.appendChild(tr);
  }
  container.appendChild(table);
}
