// The search box and the class filter (src/search.js): run with `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { prepareGraph } from "../src/graph.js";
import { focusSet, parseSampleList, parseSearch, searchMisses, searchNodes } from "../src/search.js";
import { Store } from "../src/state.js";
import { payload } from "./helpers.js";

test("parseSearch: nodes, samples, and classes with numeric names through class:", () => {
  assert.deepEqual(parseSearch("#5"), { kind: "node", id: 5 });
  assert.deepEqual(parseSearch(" 7 "), { kind: "sample", id: 7 });
  assert.deepEqual(parseSearch("S12"), { kind: "sample", id: 12 });
  assert.deepEqual(parseSearch("class:7"), { kind: "class", name: "7", exact: true });
  assert.deepEqual(parseSearch("c: 7"), { kind: "class", name: "7", exact: true });
  assert.deepEqual(parseSearch("do"), { kind: "class", name: "do", exact: false });
  assert.equal(parseSearch("  "), null);
  assert.deepEqual(parseSampleList("12, s40 12"), [12, 40]);
  assert.equal(parseSampleList("12, dog"), null);
});

test("searchNodes: '7' is sample 7, 'c:7' the nodes whose dominant class is named 7", () => {
  const g = prepareGraph(payload([[[7, 1], [0, 2, 0, 0]], [[2, 3], [0, 0, 0, 2]], [[4], [0, 0, 1, 0]]], []));
  assert.deepEqual([...searchNodes(g, "7")], [0]);
  assert.deepEqual([...searchNodes(g, "c:7")], [1]);
  assert.deepEqual([...searchNodes(g, "class:1")], [0]); // exact: "1" is not "17" or "71"
  assert.deepEqual([...searchNodes(g, "#2")], [2]);
  assert.deepEqual([...searchNodes(g, "#9")], []);
});

test("focusSet: the class filter, the search and the projection's selection, each and together", () => {
  // Nodes: 0 {0, 1} classes 0; 1 {1, 2} classes 0 and 1; 2 {3} class 2; 3 {4, 5} class 1.
  const g = prepareGraph(
    payload(
      [
        [[0, 1], [2, 0, 0, 0]],
        [[1, 2], [1, 1, 0, 0]],
        [[3], [0, 0, 1, 0]],
        [[4, 5], [0, 2, 0, 0]],
      ],
      [],
    ),
  );
  const state = new Store().get();
  const focus = (patch) => {
    const f = focusSet(g, { ...state, ...patch });
    return f === null ? null : [...f].sort((a, b) => a - b);
  };
  assert.equal(focus({}), null); // nothing set: nothing faded
  assert.deepEqual(focus({ psel: [1] }), [0, 1]); // the nodes holding a selected sample
  assert.deepEqual(focus({ psel: [3, 5] }), [2, 3]);
  assert.deepEqual(focus({ psel: [9] }), []); // a sample no node holds: every node faded
  assert.deepEqual(focus({ cls: 1 }), [1, 3]);
  assert.deepEqual(focus({ cls: 1, psel: [1, 5] }), [1, 3]);
  assert.deepEqual(focus({ cls: 0, psel: [2, 3] }), [1]);
  assert.deepEqual(focus({ q: "#2", psel: [1] }), []);
  assert.deepEqual(focus({ q: "s1", psel: [0] }), [0]);
});

test("a search that finds nothing says so and fades nothing", () => {
  const g = prepareGraph(payload([[[0, 1], [2, 0, 0, 0]], [[2], [0, 1, 0, 0]]], [], ["zero", "one", "two", "seven"]));
  const state = new Store().get();
  assert.equal(searchMisses(g, "eight"), true);
  assert.equal(searchMisses(g, "#7"), true);
  assert.equal(searchMisses(g, "s9"), true);
  assert.equal(searchMisses(g, "one"), false);
  assert.equal(searchMisses(g, ""), false);
  assert.equal(searchMisses(null, "eight"), false);
  // With the miss, the search restricts nothing; the class filter still applies.
  assert.equal(focusSet(g, { ...state, q: "eight" }, true), null);
  assert.deepEqual([...focusSet(g, { ...state, q: "eight", cls: 1 }, true)], [1]);
  assert.deepEqual([...focusSet(g, { ...state, q: "eight" }, false)], []);
});
