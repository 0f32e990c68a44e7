// Painting one graph on a canvas: edges in width classes, nodes in a node style, then rings (tracked, linked,
// hovered, selected). Everything is batched per colour, so a 2,000-node frame is a few dozen fill calls.
// A node style is a function that adds each node's shape to per-colour paths; NODE_STYLES names them (a style
// that draws something else, such as an image per node, adds its own entry and falls back to `circles`).

import { classColor, continuousScale, fillByColour } from "./colors.js";

/**
 * Which nodes a view's style fades: those outside the focus (class filter, search, projection selection, a
 * finding), and, while samples are tracked, those not holding any. The selected node is never faded: it is what
 * the node panel describes, whatever else is picked out.
 */
export function fadedBy(style) {
  const { focus, tracked, selected } = style;
  return (i) => i !== selected && Boolean((focus && !focus.has(i)) || (tracked && tracked.size && !tracked.has(i)));
}

/** Adds `[color] -> Path2D` for each node: pies of the class mix, or discs of one colour. */
function circles(ctx, { g, nodes, colorMode, faded, bright, dim, outline }) {
  const nClasses = g.class_names.length;
  const scale = colorMode === "classes" || colorMode === "dominant" ? null : continuousScale(g, colorMode);
  const palette = Array.from({ length: Math.max(nClasses, 1) }, (_, k) => classColor(k, nClasses));
  const pathFor = (map, color) => {
    let p = map.get(color);
    if (!p) map.set(color, (p = new Path2D()));
    return p;
  };
  for (const d of nodes) {
    const n = g.nodes[d.index];
    const map = faded(d.index) ? dim : bright;
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
}

/** Node styles by name (`style.nodeStyle`); `circles` is the default and the fallback. */
export const NODE_STYLES = { circles };

/**
 * Paints graph `g` with its drawn `nodes` ({index, x, y, r}) and `links` ({source, target, jaccard}, ends being
 * nodes) under zoom `t` (already applied to `ctx`). Returns the number of edges drawn.
 */
export function paintGraph(ctx, { g, nodes, links, style, theme, t, hovered }) {
  const { colorMode, threshold, tracked, selected, linked } = style;
  const faded = fadedBy(style);

  // Edges, batched into four width classes (one stroke each) and a faded batch.
  const buckets = [[], [], [], []];
  const faint = [];
  for (const l of links) {
    if (l.jaccard < threshold) continue;
    if (faded(l.source.index) && faded(l.target.index)) faint.push(l);
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
    ctx.strokeStyle = `rgba(${theme.edge}, ${alpha})`;
    ctx.stroke();
  };
  strokeBatch(faint, 0.6, 0.12);
  buckets.forEach((list, b) => strokeBatch(list, 0.7 + 1.2 * b, 0.35 + 0.15 * b));

  const bright = new Map();
  const dim = new Map();
  const outline = new Path2D();
  const paint = NODE_STYLES[style.nodeStyle] || circles;
  paint(ctx, { g, nodes, colorMode, faded, bright, dim, outline, t });
  fillByColour(ctx, dim, 0.15);
  fillByColour(ctx, bright, 1);
  ctx.lineWidth = 0.8 / t.k;
  ctx.strokeStyle = theme.bg;
  ctx.stroke(outline);

  // Rings: tracked samples, linked (compare, layers), hovered, selected.
  const ring = (i, color, width, gap) => {
    const d = nodes[i];
    if (!d) return;
    ctx.beginPath();
    ctx.arc(d.x, d.y, d.r + gap / t.k, 0, 2 * Math.PI);
    ctx.lineWidth = width / t.k;
    ctx.strokeStyle = color;
    ctx.stroke();
  };
  if (tracked) for (const i of tracked) ring(i, theme.accent, 2.5, 2);
  if (linked) for (const i of linked) ring(i, theme.select, 3, 3);
  if (hovered !== null) ring(hovered, theme.fg, 1.5, 2);
  if (selected !== null && selected !== undefined) ring(selected, theme.select, 3.5, 3);
  return faint.length + buckets.reduce((n, b) => n + b.length, 0);
}
