// The projection panel's pure side (no DOM): which samples the view state highlights, how the scatter is framed,
// and which points a box or a lasso encloses. Tested with node --test (test/points.test.js).

import { bounds, fitTransform } from "./frame.js";
import { matchClasses, parseSearch } from "./search.js";

/**
 * The probe samples the state picks out in the projection, or null when nothing is picked (no point faded):
 * the members of the selected node (`node`), the samples of the class filter (`cls`, by label), of the search
 * (`q`: a node's members, one sample, or the samples of the matching classes), the tracked samples (`track`) and
 * the projection's own selection (`psel`). Several at once: the samples all of them pick.
 * `g` is the shown graph (prepared), `labels` the projection's class per sample (or null).
 */
export function highlightedSamples(state, g, labels) {
  let set = null;
  const intersect = (samples) => {
    const s = samples instanceof Set ? samples : new Set(samples);
    set = set === null ? s : new Set([...set].filter((i) => s.has(i)));
  };
  const byClass = (classes) => {
    const out = new Set();
    if (labels) labels.forEach((k, i) => classes.has(k) && out.add(i));
    return out;
  };
  const members = (id) => {
    const i = g && g.index ? g.index.get(id) : undefined;
    return i === undefined ? [] : g.nodes[i].members;
  };
  if (state.node !== null && state.node !== undefined) intersect(members(state.node));
  if (state.cls !== null && state.cls !== undefined) intersect(byClass(new Set([state.cls])));
  const parsed = parseSearch(state.q);
  if (parsed) {
    if (parsed.kind === "node") intersect(members(parsed.id));
    else if (parsed.kind === "sample") intersect([parsed.id]);
    else intersect(byClass(matchClasses((g && g.class_names) || [], parsed.name, parsed.exact)));
  }
  if (state.track && state.track.length) intersect(state.track);
  if (state.psel && state.psel.length) intersect(state.psel);
  return set;
}

/** How many classes the labels name (the largest label + 1; 0 for none): a loop, as a spread of a large probe's
 * labels into Math.max would exceed the engine's argument limit. */
export function classCount(labels) {
  let top = -1;
  if (labels) for (let i = 0; i < labels.length; i++) if (labels[i] > top) top = labels[i];
  return top + 1;
}

/**
 * The scatter's frame: the graph views' framing (frame.js `fitTransform`: a uniform scale, both axes alike so
 * distances read true, centred, `inset` pixels kept free at the top for the caption) of the points' box with y
 * turned upwards, as on a plot, keeping `margin` pixels free around them. Returns `{k, x, y}`:
 * screen = (x + k px, y - k py).
 */
export function scatterFrame(xs, ys, width, height, { margin = 14, inset = 0 } = {}) {
  const box = bounds(Array.from(xs, (x, i) => ({ x, y: -ys[i], r: 0 })));
  const w = Math.max(1, width - 2 * margin);
  const t = fitTransform(box, w, height - 2 * margin, { fill: 1, maxScale: Infinity, inset });
  return { k: t.k, x: t.x + (width - w) / 2, y: t.y + margin };
}

/** Screen coordinates of every point under a frame (see scatterFrame), as two Float32Arrays. */
export function toScreen(xs, ys, f) {
  const sx = new Float32Array(xs.length);
  const sy = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    sx[i] = f.x + f.k * xs[i];
    sy[i] = f.y - f.k * ys[i];
  }
  return { sx, sy };
}

/** Indices of the points inside the box spanned by two corners `a` and `b` ({x, y}, any order), ascending. */
export function pointsInBox(sx, sy, a, b) {
  const [x0, x1] = [Math.min(a.x, b.x), Math.max(a.x, b.x)];
  const [y0, y1] = [Math.min(a.y, b.y), Math.max(a.y, b.y)];
  const out = [];
  for (let i = 0; i < sx.length; i++) if (sx[i] >= x0 && sx[i] <= x1 && sy[i] >= y0 && sy[i] <= y1) out.push(i);
  return out;
}

/** True when (x, y) lies inside the polygon `poly` ([{x, y}], closed implicitly), by the even-odd rule. */
export function insidePolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const a = poly[i];
    const b = poly[j];
    if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Indices of the points inside a lasso (a polygon of at least 3 vertices; none otherwise), ascending. */
export function pointsInPolygon(sx, sy, poly) {
  if (poly.length < 3) return [];
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const p of poly) {
    x0 = Math.min(x0, p.x);
    x1 = Math.max(x1, p.x);
    y0 = Math.min(y0, p.y);
    y1 = Math.max(y1, p.y);
  }
  const out = [];
  for (let i = 0; i < sx.length; i++) {
    if (sx[i] < x0 || sx[i] > x1 || sy[i] < y0 || sy[i] > y1) continue;
    if (insidePolygon(sx[i], sy[i], poly)) out.push(i);
  }
  return out;
}

/** The point nearest (x, y) within `radius` pixels, or null. */
export function nearestPoint(sx, sy, x, y, radius = 6) {
  let best = null;
  let bestD = radius * radius;
  for (let i = 0; i < sx.length; i++) {
    const d = (sx[i] - x) ** 2 + (sy[i] - y) ** 2;
    if (d <= bestD) {
      best = i;
      bestD = d;
    }
  }
  return best;
}
