// Pure functions of the findings panel (src/findings.js): run with `npm test` (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cleanFindings,
  filterFindings,
  findingNodes,
  findingPatch,
  findingShown,
  groupByStep,
  intersectFocus,
  kindCounts,
  kindLabel,
  layerHealth,
} from "../src/findings.js";

const raw = (step, layer, kind, message, details = {}, extra = {}) => ({ step, layer, kind, message, details, ...extra });
const PAYLOAD = {
  findings: [
    raw(0, "conv", "dead", "90% of its units never fire", {}, { fault: true }),
    raw(0, "fc", "confusion", "classes '3' and '5' share 2 node(s)", { nodes: [4, 7], classes: [3, 5] }),
    raw(1, "fc", "suspect_labels", "2 samples", { samples: [12, 40], nodes: [2, -1, 1.5, "x"] }),
    raw(2, "conv", "not_learning", "frozen"),
  ],
};

test("cleanFindings keeps well-formed entries, derives fault from the kind, and keeps only integer ids", () => {
  const fs = cleanFindings({
    findings: [...PAYLOAD.findings, null, { step: "1", layer: "fc", kind: "dead" }, raw(3, 7, "dead", "x"), raw(3, "fc", "dead", 5, [1])],
  });
  assert.deepEqual(
    fs.map((f) => [f.step, f.layer, f.kind, f.fault]),
    [
      [0, "conv", "dead", true],
      [0, "fc", "confusion", false],
      [1, "fc", "suspect_labels", false],
      [2, "conv", "not_learning", true],
      [3, "fc", "dead", true],
    ],
  );
  assert.deepEqual(fs[2].nodes, [2]);
  assert.deepEqual(fs[2].samples, [12, 40]);
  assert.equal(fs[4].message, "");
  assert.deepEqual(fs[4].details, {});
  assert.deepEqual(cleanFindings(null), []);
  assert.deepEqual(cleanFindings({ findings: "no" }), []);
});

test("kindCounts lists fault kinds first, then class kinds, then unknown ones", () => {
  const fs = cleanFindings({ findings: [...PAYLOAD.findings, raw(5, "fc", "zzz", "?"), raw(5, "fc", "confusion", "again")] });
  assert.deepEqual(kindCounts(fs), [["dead", 1], ["not_learning", 1], ["confusion", 2], ["suspect_labels", 1], ["zzz", 1]]);
  assert.equal(kindLabel("not_learning"), "not learning");
});

test("filterFindings: no chosen kind shows all; chosen kinds show only those", () => {
  const fs = cleanFindings(PAYLOAD);
  assert.equal(filterFindings(fs, new Set()).length, 4);
  assert.deepEqual(filterFindings(fs, new Set(["dead", "not_learning"])).map((f) => f.step), [0, 2]);
});

test("groupByStep: newest step first, faults first within a step, else the route's order", () => {
  const fs = cleanFindings({ findings: [PAYLOAD.findings[3], PAYLOAD.findings[1], PAYLOAD.findings[0]] });
  assert.deepEqual(groupByStep(fs).map(([s, g]) => [s, g.map((f) => f.kind)]), [
    [2, ["not_learning"]],
    [0, ["dead", "confusion"]],
  ]);
  const info = cleanFindings({ findings: [raw(1, "b", "confusion", "x"), raw(1, "a", "separation", "y")] });
  assert.deepEqual(groupByStep(info)[0][1].map((f) => f.layer), ["b", "a"]);
});

test("layerHealth: fault findings warn their layer; a problem holding the message is not repeated", () => {
  const fs = cleanFindings(PAYLOAD);
  const health = layerHealth({ conv: [[0, "layer 'conv': 90% of its units never fire"]], fc: [] }, fs);
  assert.deepEqual(Object.keys(health).sort(), ["conv"]);
  const h = health.conv;
  assert.equal(h.epoch, 2);
  assert.deepEqual(h.all, [[0, "layer 'conv': 90% of its units never fire"], [2, "not learning: frozen"]]);
  assert.equal(h.text, "epoch 0: layer 'conv': 90% of its units never fire\nepoch 2: not learning: frozen");
  assert.equal(h.short, "health warning: dead, not learning (epoch 2)");
  // Old logs: problems only, as the metrics route has always given them.
  assert.deepEqual(layerHealth({ fc: [[3, "dead"]] }, []), {
    fc: { epoch: 3, all: [[3, "dead"]], text: "epoch 3: dead", short: "health warning (epoch 3)" },
  });
  // Findings only (no problem text): the finding's text is the tooltip.
  assert.equal(layerHealth({}, fs.slice(0, 1)).conv.text, "epoch 0: dead: 90% of its units never fire");
});

test("a finding's nodes are highlighted only at its run, layer and epoch, and its samples tracked", () => {
  const fs = cleanFindings(PAYLOAD);
  const g = { index: new Map([[4, 0], [7, 1], [9, 2]]) };
  const conf = fs[1];
  assert.equal(findingShown(conf, "r", { run: "r", layer: "fc", epoch: 0 }), true);
  assert.equal(findingShown(conf, "r", { run: "r", layer: "fc", epoch: 1 }), false);
  assert.equal(findingShown(conf, "r", { run: "s", layer: "fc", epoch: 0 }), false);
  assert.deepEqual([...findingNodes(g, conf)], [0, 1]);
  assert.equal(findingNodes(g, fs[0]), null);
  assert.equal(findingNodes({ index: new Map() }, conf), null);
  assert.deepEqual(findingPatch(conf), { layer: "fc", epoch: 0, node: null });
  assert.deepEqual(findingPatch(fs[2]), { layer: "fc", epoch: 1, node: null, track: [12, 40] });
});

test("intersectFocus combines two focus sets, null meaning no restriction", () => {
  assert.equal(intersectFocus(null, null), null);
  assert.deepEqual([...intersectFocus(new Set([1, 2]), null)], [1, 2]);
  assert.deepEqual([...intersectFocus(null, new Set([3]))], [3]);
  assert.deepEqual([...intersectFocus(new Set([1, 2]), new Set([2, 3]))], [2]);
});
