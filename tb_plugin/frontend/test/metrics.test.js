// The metric chart's pure side (src/metrics.js): run with `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chartDomain, chartMetric, metricOrder, problemList, tickStep } from "../src/metrics.js";
import { rng } from "./helpers.js";

test("chartDomain clamps shares to [0, 1] and counts at 0, with round ticks", () => {
  const flat = chartDomain([0.06, 0.06, 0.06], "fraction");
  assert.ok(flat.lo >= 0 && flat.hi <= 1 && flat.lo < 0.06 && flat.hi > 0.06);
  assert.ok(flat.ticks.length >= 3);
  const counts = chartDomain([1, 1], "count");
  assert.ok(counts.lo === 0 && counts.ticks.every(Number.isInteger));
  const random = rng(3);
  for (let trial = 0; trial < 100; trial++) {
    const vals = Array.from({ length: 1 + Math.floor(random() * 10) }, () => random());
    const { lo, hi, ticks } = chartDomain(vals, "fraction");
    assert.ok(lo >= 0 && hi <= 1 && lo <= Math.min(...vals) && hi >= Math.max(...vals));
    assert.ok(ticks.length >= 2 && ticks.every((v) => v >= lo - 1e-9 && v <= hi + 1e-9));
  }
  assert.equal(tickStep(1, 4), 0.5);
  assert.equal(tickStep(30, 4), 10);
  assert.equal(tickStep(1.1 - 0.9, 4), 0.05);
  assert.deepEqual(chartDomain([1, 1], "fraction").ticks, [0.9, 0.95, 1]);
});

test("metricOrder lists the README's metrics first and drops mean_prediction", () => {
  assert.deepEqual(metricOrder(["mean_loss", "mean_x", "nodes", "mean_prediction", "dead_units", "purity"]), [
    "nodes",
    "purity",
    "dead_units",
    "mean_loss",
    "mean_x",
  ]);
});

test("problemList sorts the warned epochs", () => {
  assert.deepEqual(problemList({ problems: { 3: "b", 0: "a" } }), [[0, "a"], [3, "b"]]);
  assert.deepEqual(problemList({}), []);
});

test("the chart keeps the user's metric when the layer has it, else shows purity, without changing the choice", () => {
  assert.equal(chartMetric("dead_units", ["nodes", "purity", "dead_units"]), "dead_units");
  assert.equal(chartMetric("dead_units", ["nodes", "purity"]), "purity");
  assert.equal(chartMetric("", ["nodes"]), "nodes");
  assert.equal(chartMetric("x", []), "");
});
