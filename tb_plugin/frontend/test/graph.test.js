// Graphs as the views use them (src/graph.js) and the routes' cancelling (src/api.js): run with `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { abortable, isAbort } from "../src/api.js";
import { linkedNodes, overlaps, prepareGraph, sameGraph, seedPositions } from "../src/graph.js";
import { payload } from "./helpers.js";

test("prepareGraph leaves the payload untouched, freezes it and memoizes", () => {
  const raw = payload([[[0, 1], [2, 0, 0, 0]], [[1, 2], [0, 1, 0, 1]]], [[0, 1]]);
  const g = prepareGraph(raw);
  assert.equal(prepareGraph(raw), g);
  assert.equal(raw.nodes[0].index, undefined);
  assert.ok(Object.isFrozen(raw.nodes[0].members));
  assert.throws(() => {
    raw.nodes[0].dominant = 3;
  }, TypeError);
  assert.deepEqual(g.nodes.map((n) => [n.index, n.dominant, n.labelled]), [[0, 0, 2], [1, 1, 2]]);
  assert.deepEqual(g.links, [{ s: 0, t: 1, jaccard: 0.5, intersection: 1 }]);
});

test("seedPositions puts a node where its predecessors were", () => {
  const prev = prepareGraph(payload([[[0, 1, 2], null], [[5, 6], null]], []));
  const next = prepareGraph(payload([[[5, 6], null], [[0, 1, 2], null]], []));
  const seeds = seedPositions(prev, [{ x: 0, y: 0 }, { x: 100, y: 50 }], next);
  assert.deepEqual([seeds[0].x, seeds[0].y, seeds[1].x, seeds[1].y], [100, 50, 0, 0]);
  assert.deepEqual(overlaps(prev, next)[0], [[1, 2, 1]]);
});

test("abortable rejects with an AbortError when its signal aborts", async () => {
  const c = new AbortController();
  const p = abortable(new Promise(() => {}), c.signal);
  c.abort();
  await assert.rejects(p, (e) => isAbort(e));
  assert.equal(await abortable(Promise.resolve(4), new AbortController().signal), 4);
});

test("linkedNodes: the nodes of another layer's graph holding a node's samples", () => {
  const from = prepareGraph({ nodes: [{ id: 0, members: [0, 1] }, { id: 1, members: [2, 3] }], edges: [], n_samples: 5 });
  const to = prepareGraph({
    nodes: [{ id: 0, members: [0, 4] }, { id: 1, members: [1, 2] }, { id: 2, members: [3] }, { id: 3, members: [4] }],
    edges: [],
    n_samples: 5,
  });
  assert.deepEqual([...linkedNodes(from, 0, to)].sort(), [0, 1]);
  assert.deepEqual([...linkedNodes(from, 1, to)].sort(), [1, 2]);
  assert.equal(linkedNodes(from, 9, to).size, 0);
});

test("seedPositions: a node that is mostly one predecessor starts exactly there, and is marked kept", () => {
  // prev: 0 {0..9}, 1 {10..13}; next: 0 {0..8} (Jaccard 0.9 with 0), 1 {9..13} (0.8 with 1, 0.2 of it from 0).
  const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
  const prev = prepareGraph(payload([[range(0, 10), null], [range(10, 14), null]], []));
  const next = prepareGraph(payload([[range(0, 9), null], [range(9, 14), null]], []));
  const seeds = seedPositions(prev, [{ x: 0, y: 0 }, { x: 100, y: 0 }], next);
  assert.deepEqual([seeds[0].x, seeds[0].y, seeds[0].kept], [0, 0, true]);
  assert.deepEqual([seeds[1].x, seeds[1].y, seeds[1].kept], [100, 0, true]);
  // A merge of three thirds is kept by none: it starts between them, weighted by what it took from each.
  const thirds = prepareGraph(payload([[range(0, 5), null], [range(5, 10), null], [range(10, 16), null]], []));
  const merged = prepareGraph(payload([[range(0, 16), null]], []));
  const m = seedPositions(thirds, [{ x: 0, y: 0 }, { x: 40, y: 0 }, { x: 100, y: 0 }], merged)[0];
  assert.deepEqual([m.x, m.kept], [(0 * 5 + 40 * 5 + 100 * 6) / 16, false]);
});

test("sameGraph compares members and edges, not identity", () => {
  const a = prepareGraph(payload([[[0, 1], null], [[1, 2], null]], [[0, 1]]));
  const b = prepareGraph(payload([[[0, 1], null], [[1, 2], null]], [[0, 1]]));
  const c = prepareGraph(payload([[[0, 1], null], [[1, 3], null]], [[0, 1]]));
  assert.ok(a !== b && sameGraph(a, b));
  assert.equal(sameGraph(a, c), false);
  assert.equal(sameGraph(a, null), false);
});
