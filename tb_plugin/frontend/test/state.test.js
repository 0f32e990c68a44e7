// The tab's one state (src/state.js), its transitions, and the pure functions of the modes (src/modes.js), the
// colour that applies (src/colors.js) and how a node is emphasised (src/paint.js): run with `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { colorModes, effectiveColor } from "../src/colors.js";
import { prepareGraph } from "../src/graph.js";
import { compareOrder, compareSide, compareWords, defaultEpoch2, modeOf, paneSize, queryFor, remapReason, shownLayers, toggleMode } from "../src/modes.js";
import { fadedBy } from "../src/paint.js";
import { parseSpec } from "../src/params.js";
import { DEFAULTS, Store, TRANSIENT, decodeState, encodeState, snapEpoch, transition } from "../src/state.js";
import { payload } from "./helpers.js";

const SPEC = parseSpec(JSON.parse(readFileSync(new URL("./fixtures/params.json", import.meta.url), "utf8")));
const RUNS = [
  { run: "r", layers: ["conv", "fc1", "fc2"], activations: ["conv", "fc1", "fc2"] },
  { run: "bare", layers: ["fc1"], activations: [] },
];

test("compare order: the earlier epoch on the left (first to the route), in every mode", () => {
  assert.equal(defaultEpoch2([0, 1, 2, 5], 5), 2);
  assert.equal(defaultEpoch2([0, 1, 2, 5], 0), 1);
  assert.equal(defaultEpoch2([3], 3), 3);
  const a = { epoch: 5 };
  const b = { epoch: 2 };
  assert.deepEqual(compareOrder(a, b), { first: b, second: a, flipped: true });
  assert.deepEqual(compareOrder(b, a), { first: b, second: a, flipped: false });
});

test("state round-trips through the URL form", () => {
  const state = { run: "r", layer: "fc1", epoch: 3, track: [1, 2], cmp: true, q: "c:7" };
  assert.deepEqual(decodeState(encodeState(state), SPEC), state);
  assert.equal(snapEpoch([0, 2, 4], 3), 2);
});

test("shownLayers: the current layer and its neighbours in watch order, clamped at the ends", () => {
  const L = ["a", "b", "c", "d"];
  assert.deepEqual(shownLayers(L, "b"), ["a", "b", "c"]);
  assert.deepEqual(shownLayers(L, "a"), ["a", "b", "c"]);
  assert.deepEqual(shownLayers(L, "d"), ["b", "c", "d"]);
  assert.deepEqual(shownLayers(["x", "y"], "y"), ["x", "y"]);
  assert.deepEqual(shownLayers(["x"], "x"), ["x"]);
});

test("shownLayers: a valid choice holding the current layer wins, in watch order; otherwise the default", () => {
  const L = ["a", "b", "c", "d"];
  assert.deepEqual(shownLayers(L, "d", "d,a"), ["a", "d"]);
  assert.deepEqual(shownLayers(L, "b", "a,b,b,zz"), ["a", "b"]);
  assert.deepEqual(shownLayers(L, "b", "c,d"), ["a", "b", "c"]); // the current layer missing: default
  assert.deepEqual(shownLayers(L, "b", "b"), ["a", "b", "c"]); // one layer is no choice
});

test("shownLayers: always includes the current layer, at most three, all from the run (property)", () => {
  for (let n = 1; n < 8; n++) {
    const L = Array.from({ length: n }, (_, i) => `l${i}`);
    for (const cur of L) {
      for (const chosen of ["", L.slice(0, 2).join(","), L.join(","), "nope"]) {
        const out = shownLayers(L, cur, chosen);
        assert.ok(out.includes(cur) || !chosen.split(",").includes(cur));
        if (!chosen || chosen === "nope") assert.ok(out.includes(cur) && out.length === Math.min(3, n));
        assert.ok(out.every((l) => L.includes(l)));
        assert.deepEqual(out, L.filter((l) => out.includes(l))); // watch order
      }
    }
  }
});

test("the store starts with an empty projection selection, which the URL never holds", () => {
  const s = new Store().get();
  assert.deepEqual(s.psel, []);
  assert.deepEqual(TRANSIENT, { psel: [], fkinds: [], factive: null, lpin: null, playing: false });
  assert.equal("psel" in DEFAULTS, false);
  const store = new Store();
  store.set({ psel: [4, 8], proj: true });
  assert.deepEqual(encodeState(store.get()), { proj: "1" });
  assert.equal("psel" in decodeState({ psel: "4,8" }), false);
});

test("compare order and words: captions and summary read the same, from the left to the right", () => {
  const a = { run: "r", layer: "fc1", epoch: 15 };
  const b = { run: "r", layer: "fc1", epoch: 14 };
  const { first, second, flipped } = compareOrder(a, b);
  assert.equal(flipped, true); // B (the earlier) on the left
  assert.deepEqual(compareWords(first, second), { from: "epoch 14", to: "epoch 15", where: "r / fc1" });
  // Another layer or run at the same epoch: A (the slider's) on the left, each side named in full.
  const other = { run: "r", layer: "conv", epoch: 15 };
  assert.equal(compareOrder(a, other).flipped, false);
  assert.deepEqual(compareWords(a, other), { from: "r / fc1 · epoch 15", to: "r / conv · epoch 15", where: null });
  // Whatever the choice of B, the left graph is never the later one (property).
  for (const ea of [0, 3, 9]) {
    for (const eb of [0, 3, 9]) {
      const o = compareOrder({ ...a, epoch: ea }, { ...b, epoch: eb });
      assert.ok(o.first.epoch <= o.second.epoch);
    }
  }
});

test("the store has one write path: set, which tells listeners once per change, in order", () => {
  const store = new Store({ runs: RUNS });
  assert.equal("amend" in store, false);
  const seen = [];
  store.subscribe((s, changed) => {
    seen.push([...changed].sort().join(","));
    // A write from a listener waits until every listener has seen the change that caused it.
    if (changed.has("q") && s.q === "a") store.set((now) => ({ thr: now.thr + 0.5 }));
  });
  store.set({ q: "a" });
  assert.deepEqual(seen, ["q", "thr"]);
  assert.equal(store.get().thr, 0.5);
  store.set({ q: "a" }); // no change, no call
  assert.equal(seen.length, 2);
});

test("transitions: a run's default layer, epochs snapped, the latest epoch followed while training goes on", () => {
  let s = { ...new Store().get(), runs: RUNS };
  s = transition(s, { run: "bare" });
  assert.equal(s.layer, "fc1");
  s = transition(s, { run: "r" });
  assert.equal(s.layer, "fc1"); // the run has it: kept
  s = transition(s, { layer: "conv", run: "r" });
  assert.equal(s.layer, "conv");
  s = transition(s, { epochs: [0, 2, 4], epoch: 3 });
  assert.equal(s.epoch, 2);
  s = transition(s, { epoch: null });
  assert.equal(s.epoch, 4); // none asked: the latest
  s = transition(s, { epochs: [0, 2, 4, 6] });
  assert.equal(s.epoch, 6); // on the latest, a new epoch comes: follow it
  s = transition(s, { epoch: 2 });
  s = transition(s, { epochs: [0, 2, 4, 6, 8] });
  assert.equal(s.epoch, 2); // elsewhere: stay
  // Another layer: the epochs shown were the old layer's, so there are none until its own come.
  s = transition(s, { layer: "fc2" });
  assert.deepEqual([s.layer, s.epochs, s.epoch], ["fc2", [], 2]);
  s = transition(s, { epochs: [0, 5] });
  assert.equal(s.epoch, 0); // the nearest logged one
  assert.deepEqual(transition(s, { layer: "fc2" }).epochs, [0, 5]); // the same layer again: nothing to forget
});

test("transitions: the selected node follows its members to the next graph of its layer, or goes", () => {
  const g = (nodes, epoch) => prepareGraph({ ...payload(nodes, []), run: "r", layer: "fc1", epoch });
  const g1 = g([[[0, 1, 2], null], [[5, 6], null]], 1);
  const g2 = g([[[5, 6, 7], null], [[0, 1], null], [[2], null]], 2);
  let s = transition({ ...new Store().get(), graph: g1 }, { node: 0 });
  s = transition(s, { graph: g2 });
  assert.equal(s.node, 1); // node 0's members went mostly to node 1
  const other = prepareGraph({ ...payload([[[0], null]], []), run: "r", layer: "conv", epoch: 2 });
  s = transition({ ...s, node: 2 }, { graph: other });
  assert.equal(s.node, null); // another layer without that node
});

test("colour fallback: the user's choice is kept when a graph cannot show it, and the reason is said", () => {
  const empty = prepareGraph({ nodes: [], edges: [], class_names: ["a"], n_samples: 4 });
  const full = prepareGraph(payload([[[0, 1], [1, 1, 0, 0]]], []));
  const choice = "purity";
  const onEmpty = effectiveColor(choice, colorModes(empty), empty);
  assert.equal(onEmpty.mode, "mean_lens");
  assert.match(onEmpty.note, /Colour by purity does not apply: this graph has no nodes\. Shown by mean lens/);
  // The state is not changed by an empty re-map: the same choice applies again to the next graph that has it.
  const store = new Store({ color: choice });
  store.set({ graph: empty });
  store.set({ graph: full });
  assert.equal(store.get().color, choice);
  const withPurity = prepareGraph({ ...payload([[[0, 1], [1, 1, 0, 0]]], []), nodes: [{ id: 0, members: [0, 1], size: 2, classes: [1, 1], purity: 0.5 }] });
  assert.deepEqual(effectiveColor(choice, colorModes(withPurity), withPurity), { mode: "purity", note: null });
  assert.match(effectiveColor("classes", colorModes(prepareGraph({ nodes: [{ id: 0, members: [0] }], edges: [] })), null).note, /no class labels/);
});

test("selected and tracked compose: the selected node is never faded, whatever else is picked out", () => {
  const style = { focus: new Set([1]), tracked: new Set([2]), selected: 0 };
  const faded = fadedBy(style);
  assert.equal(faded(0), false); // selected, although neither in focus nor tracked
  assert.equal(faded(1), true); // in focus but not tracked
  assert.equal(faded(3), true);
  assert.equal(fadedBy({ focus: null, tracked: null, selected: null })(3), false);
  assert.equal(fadedBy({ focus: null, tracked: new Set([2]), selected: null })(2), false);
});

test("one mode at a time; the panes' size follows the mode", () => {
  let s = { ...new Store().get(), runs: RUNS, run: "r", layer: "fc1", main: { width: 960, height: 700 } };
  assert.equal(modeOf(s), "single");
  s = { ...s, ...toggleMode(s, "compare") };
  assert.deepEqual([s.cmp, s.lay, s.proj, modeOf(s)], [true, false, false, "compare"]);
  assert.deepEqual(paneSize(s), { width: 480, height: 700, perRow: 2 });
  s = { ...s, ...toggleMode(s, "layers") };
  assert.deepEqual([s.cmp, s.lay, modeOf(s)], [false, true, "layers"]);
  assert.equal(paneSize(s).perRow, 2); // three layers, two side by side at 960 px: the third scrolls
  assert.ok(paneSize(s).width >= 440);
  s = { ...s, ...toggleMode(s, "layers") };
  assert.equal(modeOf(s), "single");
  assert.equal(modeOf({ ...s, cmp: true, lay: true }), "compare"); // a URL asking for both
});

test("the query every view shares: the card's parameters, or the logged graphs when any side cannot be re-mapped", () => {
  const base = { ...new Store().get(), runs: RUNS, run: "r", layer: "fc1", spec: SPEC, overlap: "0.5", eps: "fixed" };
  assert.deepEqual(queryFor(base), { overlap: "0.5", eps: "fixed" });
  assert.equal(remapReason(base), null);
  const cmp = { ...base, cmp: true, run2: "bare" };
  assert.deepEqual(compareSide(cmp), { run: "bare", layer: "fc1", layers: ["fc1"] });
  assert.match(remapReason(cmp), /^Compared with bare \/ fc1: Re-mapping needs stored activations/);
  assert.deepEqual(queryFor(cmp), {});
  assert.deepEqual(queryFor(base, { run: "bare", layer: "fc1" }), {}); // a layers-mode panel without activations
  assert.match(remapReason({ ...base, spec: null }), /limits/);
  assert.match(remapReason({ ...base, spec: null, specError: "HTTP 404" }), /unavailable: HTTP 404/);
});
