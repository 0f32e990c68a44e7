// Framing: which part of the graph plane a view shows. A view frames the box of its layer's layouts over every
// epoch (layoutchain.js), so stepping through epochs moves nodes, never the camera; the camera moves only when
// nodes would leave the view. Also the size of the panels in layers mode. Nothing in here touches the DOM.

/** The box holding every disc `{x, y, r}`, or null when there are none. */
export function bounds(discs) {
  if (!discs.length) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const d of discs) {
    x0 = Math.min(x0, d.x - d.r);
    y0 = Math.min(y0, d.y - d.r);
    x1 = Math.max(x1, d.x + d.r);
    y1 = Math.max(y1, d.y + d.r);
  }
  return { x0, y0, x1, y1 };
}

/** The box holding every box of `boxes` (nulls skipped), or null. */
export function unionBox(boxes) {
  const list = boxes.filter(Boolean);
  if (!list.length) return null;
  return {
    x0: Math.min(...list.map((b) => b.x0)),
    y0: Math.min(...list.map((b) => b.y0)),
    x1: Math.max(...list.map((b) => b.x1)),
    y1: Math.max(...list.map((b) => b.y1)),
  };
}

/**
 * The zoom `{k, x, y}` (screen = graph * k + (x, y)) that centres `box` in a `width` x `height` view, using
 * `fill` of it, never magnifying beyond `maxScale` (a two-node graph should not fill the screen). `inset` keeps
 * a band at the top free (the caption).
 */
export function fitTransform(box, width, height, { fill = 0.92, maxScale = 4, inset = 0 } = {}) {
  if (!box) return { k: 1, x: width / 2, y: height / 2 };
  const h = Math.max(1, height - inset);
  const k = Math.min(maxScale, fill * Math.min(width / (box.x1 - box.x0 || 1), h / (box.y1 - box.y0 || 1)));
  return {
    k,
    x: width / 2 - k * ((box.x0 + box.x1) / 2),
    y: inset + h / 2 - k * ((box.y0 + box.y1) / 2),
  };
}

/** How many node centres a zoom puts outside a `width` x `height` view, and on which sides. */
export function offscreen(points, t, width, height) {
  const out = { count: 0, left: 0, right: 0, top: 0, bottom: 0 };
  for (const p of points) {
    const x = p.x * t.k + t.x;
    const y = p.y * t.k + t.y;
    const sides = [x < 0 && "left", x > width && "right", y < 0 && "top", y > height && "bottom"].filter(Boolean);
    if (!sides.length) continue;
    out.count++;
    for (const side of sides) out[side]++;
  }
  return out;
}

/** True when `box` lies inside the view (`inset` band at the top excluded) under zoom `t`. */
export function boxInView(box, t, width, height, inset = 0) {
  if (!box) return true;
  const e = 0.5; // half a pixel: a box framed exactly is inside
  return (
    box.x0 * t.k + t.x >= -e &&
    box.x1 * t.k + t.x <= width + e &&
    box.y0 * t.k + t.y >= inset - e &&
    box.y1 * t.k + t.y <= height + e
  );
}

/**
 * The frame rule. An automatic view keeps its zoom `current` while `box` (what it must show: the union of its
 * layouts over the layer's epochs) stays inside it and fills at least `minFill` of what a fresh fit would
 * magnify it to; otherwise it fits `box` afresh. A grown box (a new epoch) or a resized view moves the camera
 * once; stepping through the epochs of a chain never does.
 */
export function steadyFrame(current, box, width, height, { inset = 0, minFill = 0.8 } = {}) {
  const fit = fitTransform(box, width, height, { inset });
  if (!current || !box) return fit;
  return boxInView(box, current, width, height, inset) && current.k >= minFill * fit.k ? current : fit;
}

/**
 * Layouts are packed to the shape of their view; nearby shapes share one layout (a window resized a little keeps
 * its layouts). The aspect `width / height` rounded to one of a few steps.
 */
export function aspectStep(width, height) {
  const a = width > 0 && height > 0 ? width / height : 1;
  const steps = [0.5, 0.7, 1, 1.4, 2, 2.8];
  return steps.reduce((best, s) => (Math.abs(Math.log(s / a)) < Math.abs(Math.log(best / a)) ? s : best));
}

/** Narrowest panel of layers mode: two fit beside the side bar at 1,280 px, three from about 1,700 px. */
export const PANEL_MIN_WIDTH = 440;

/**
 * How many of `n` layer panels sit side by side in a `width` pixel wide area: as many as keep each at least
 * PANEL_MIN_WIDTH wide (the others are reached by scrolling sideways), at least one.
 */
export function panelsPerRow(width, n) {
  return Math.max(1, Math.min(n, Math.floor(width / PANEL_MIN_WIDTH)));
}
