// The projection panel's pure side (src/points.js): highlighting, framing, box and lasso selection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { prepareGraph } from "../src/graph.js";
import { decodeState, encodeState, DEFAULTS } from "../src/state.js";
import {
  classCount,
  highlightedSamples,
  insidePolygon,
  nearestPoint,
  pointsInBox,
  pointsInPolygon,
  scatterFrame,
  toScreen,
} from "../src/points.js";

const raw = {
  nodes: [
    { id: 0, members: [0, 1, 2], classes: [2, 1] },
    { id: 7, members: [2, 3], classes: [0, 2] },
  ],
  edges: [],
  class_names: ["cat", "dog"],
  n_samples: 5,
};
const labels = [0, 0, 1, 1, 1];
const none = { node: null, cls: null, q: "", track: [], psel: [] };
const sorted = (set) => (set === null ? null : [...set].sort((a, b) => a - b));

test("nothing picked: no point is faded", () => {
  assert.equal(highlightedSamples(none, prepareGraph(structuredClone(raw)), labels), null);
  assert.equal(highlightedSamples({}, null, null), null);
});

test("a node, a class, a search, tracked samples and a selection each pick exactly their samples", () => {
  const g = prepareGraph(structuredClone(raw));
  const pick = (patch) => sorted(highlightedSamples({ ...none, ...patch }, g, labels));
  assert.deepEqual(pick({ node: 7 }), [2, 3]);
  assert.deepEqual(pick({ node: 99 }), []);
  assert.deepEqual(pick({ cls: 1 }), [2, 3, 4]);
  assert.deepEqual(pick({ q: "#0" }), [0, 1, 2]);
  assert.deepEqual(pick({ q: "s4" }), [4]);
  assert.deepEqual(pick({ q: "do" }), [2, 3, 4]);
  assert.deepEqual(pick({ q: "class:cat" }), [0, 1]);
  assert.deepEqual(pick({ track: [4, 1] }), [1, 4]);
  assert.deepEqual(pick({ psel: [3] }), [3]);
  // Together: what all of them pick.
  assert.deepEqual(pick({ node: 0, cls: 1 }), [2]);
  assert.deepEqual(pick({ cls: 0, track: [0, 4] }), [0]);
  // Without labels a class picks nothing.
  assert.deepEqual(sorted(highlightedSamples({ ...none, cls: 0 }, g, null)), []);
});

test("the frame keeps both axes alike, centres the points and turns y upwards", () => {
  const xs = [0, 10, 5];
  const ys = [0, 2, 1];
  const f = scatterFrame(xs, ys, 240, 130, { margin: 20, inset: 10 });
  assert.equal(f.k, 20); // limited by x: 200 px for 10 units (y would allow 50)
  const { sx, sy } = toScreen(xs, ys, f);
  assert.deepEqual([...sx], [20, 220, 120]);
  assert.deepEqual([...sy], [90, 50, 70]); // higher y is higher on screen, centred below the inset
  const one = toScreen([3], [4], scatterFrame([3], [4], 100, 100));
  assert.deepEqual([one.sx[0], one.sy[0]], [50, 50]);
  assert.deepEqual(scatterFrame([], [], 100, 80).k, 1);
});

test("a box picks the points inside it, whichever corners it was dragged between", () => {
  const sx = Float32Array.from([0, 5, 10, 5]);
  const sy = Float32Array.from([0, 5, 10, 20]);
  assert.deepEqual(pointsInBox(sx, sy, { x: 11, y: 11 }, { x: 4, y: 4 }), [1, 2]);
  assert.deepEqual(pointsInBox(sx, sy, { x: -1, y: -1 }, { x: 0, y: 0 }), [0]);
  assert.deepEqual(pointsInBox(sx, sy, { x: 30, y: 30 }, { x: 40, y: 40 }), []);
});

test("a lasso picks the points inside the polygon, concave or not", () => {
  // A U shape: its notch (5, 8) is outside, its arms inside.
  const u = [
    { x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 7, y: 10 },
    { x: 7, y: 3 }, { x: 3, y: 3 }, { x: 3, y: 10 }, { x: 0, y: 10 },
  ];
  assert.equal(insidePolygon(1, 8, u), true);
  assert.equal(insidePolygon(5, 8, u), false);
  assert.equal(insidePolygon(5, 1, u), true);
  const sx = Float32Array.from([1, 5, 5, 9, 20]);
  const sy = Float32Array.from([8, 8, 1, 9, 5]);
  assert.deepEqual(pointsInPolygon(sx, sy, u), [0, 2, 3]);
  assert.deepEqual(pointsInPolygon(sx, sy, u.slice(0, 2)), []);
});

test("a click finds the nearest point within its radius", () => {
  const sx = Float32Array.from([0, 10, 12]);
  const sy = Float32Array.from([0, 0, 0]);
  assert.equal(nearestPoint(sx, sy, 11.5, 1), 2);
  assert.equal(nearestPoint(sx, sy, 5, 5), null); // 7 px from the nearest
  assert.equal(nearestPoint(sx, sy, 3, 0), 0);
  assert.equal(nearestPoint(sx, sy, 4, 5, 8), 0);
});

test("the URL keeps the panel and its method", () => {
  assert.equal(DEFAULTS.proj, false);
  assert.equal(DEFAULTS.projm, "pca");
  const pairs = encodeState({ ...DEFAULTS, proj: true, projm: "tsne", psel: [1, 2] });
  assert.deepEqual(pairs, { proj: "1", projm: "tsne" }); // the selection is not kept
  assert.deepEqual(decodeState(pairs), { proj: true, projm: "tsne" });
});

test("classCount: the largest label + 1, for a probe of any size", () => {
  assert.equal(classCount(null), 0);
  assert.equal(classCount([]), 0);
  assert.equal(classCount([0, 3, 1]), 4);
  assert.equal(classCount(Int32Array.from([2, 0])), 3);
  // Far more labels than a spread into Math.max takes as arguments (a RangeError there).
  const many = new Array(500_000).fill(1);
  many[123_456] = 9;
  assert.equal(classCount(many), 10);
});

test("the frame keeps every point inside the margins, touching them on the limiting axis (property)", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rand() * 40);
    const xs = Array.from({ length: n }, () => (rand() - 0.5) * 1000 * rand());
    const ys = Array.from({ length: n }, () => (rand() - 0.5) * 1000 * rand());
    const [width, height, margin, inset] = [60 + rand() * 900, 60 + rand() * 700, 14, 26];
    const { sx, sy } = toScreen(xs, ys, scatterFrame(xs, ys, width, height, { margin, inset }));
    const eps = 1e-3 * Math.max(width, height);
    const [x0, x1, y0, y1] = [Math.min(...sx), Math.max(...sx), Math.min(...sy), Math.max(...sy)];
    assert.ok(x0 >= margin - eps && x1 <= width - margin + eps, `x in [${x0}, ${x1}] of ${width}`);
    assert.ok(y0 >= inset + margin - eps && y1 <= height - margin + eps, `y in [${y0}, ${y1}] of ${height}`);
    const spans = [x1 - x0 - (width - 2 * margin), y1 - y0 - (height - inset - 2 * margin)];
    if (n > 1 && Math.min(...xs) < Math.max(...xs) && Math.min(...ys) < Math.max(...ys)) {
      assert.ok(Math.max(...spans) > -eps, `one axis fills its room: ${spans}`);
    }
    // Centred: equal room on both sides of each axis.
    assert.ok(Math.abs(x0 - margin - (width - margin - x1)) < eps);
    assert.ok(Math.abs(y0 - inset - margin - (height - margin - y1)) < eps);
    // y turned upwards: a higher point is higher on screen.
    const [lo, hi] = [ys.indexOf(Math.min(...ys)), ys.indexOf(Math.max(...ys))];
    assert.ok(sy[hi] <= sy[lo]);
  }
});
