// Pure functions of the Mapper parameter card (src/params.js): run with `npm test` (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AS_LOGGED,
  CUSTOM,
  PRESET_NAMES,
  describeParams,
  mapperQuery,
  missingActivations,
  num,
  presetOf,
  presetPatch,
  remapBlocked,
  remappedMark,
  remapping,
  validParam,
} from "../src/params.js";
import { DEFAULTS, decodeState, encodeState } from "../src/model.js";

test("the six presets are TopoAct's, labelled as TopoAct labels them", () => {
  assert.deepEqual(PRESET_NAMES, [
    "Overlap-20-Epsilon-Fixed",
    "Overlap-30-Epsilon-Fixed",
    "Overlap-50-Epsilon-Fixed",
    "Overlap-20-Epsilon-Adaptive",
    "Overlap-30-Epsilon-Adaptive",
    "Overlap-50-Epsilon-Adaptive",
  ]);
});

test("a preset sets overlap and eps and keeps the rest as logged; as logged clears everything", () => {
  const state = { ...DEFAULTS, intervals: "40", lens: "pca" };
  const s = { ...state, ...presetPatch("Overlap-30-Epsilon-Fixed") };
  assert.deepEqual(mapperQuery(s), { overlap: "0.3", eps: "fixed" });
  assert.deepEqual(mapperQuery({ ...s, ...presetPatch("Overlap-50-Epsilon-Adaptive") }), { overlap: "0.5", eps: "auto" });
  assert.deepEqual(mapperQuery({ ...s, ...presetPatch(AS_LOGGED) }), {});
  assert.equal(remapping({ ...s, ...presetPatch(AS_LOGGED) }), false);
  assert.equal(remapping(s), true);
});

test("presetOf names the preset the fields match, else Custom", () => {
  for (const name of PRESET_NAMES) assert.equal(presetOf({ ...DEFAULTS, ...presetPatch(name) }), name);
  assert.equal(presetOf(DEFAULTS), AS_LOGGED);
  assert.equal(presetOf({ ...DEFAULTS, overlap: "0.20", eps: "fixed" }), "Overlap-20-Epsilon-Fixed");
  assert.equal(presetOf({ ...DEFAULTS, overlap: "0.25", eps: "fixed" }), CUSTOM);
  assert.equal(presetOf({ ...DEFAULTS, overlap: "0.2", eps: "fixed", intervals: "30" }), CUSTOM);
  assert.equal(presetOf({ ...DEFAULTS, overlap: "0.2" }), CUSTOM);
  assert.equal(presetOf({ ...DEFAULTS, overlap: "0.2", eps: "0.5" }), CUSTOM);
});

test("validParam accepts what the server accepts and one spelling of it", () => {
  assert.equal(validParam("intervals", "20"), "20");
  assert.equal(validParam("intervals", "007"), "7");
  for (const bad of ["0", "1001", "-3", "2.5", "x", "", "1e3"]) assert.equal(validParam("intervals", bad), null, bad);
  assert.equal(validParam("min_samples", "5"), "5");
  assert.equal(validParam("min_samples", "0"), null);
  assert.equal(validParam("overlap", "0.30"), "0.3");
  assert.equal(validParam("overlap", "0"), "0");
  for (const bad of ["1", "1.5", "-0.1", "nan", "Infinity", "0x1"]) assert.equal(validParam("overlap", bad), null, bad);
  assert.equal(validParam("eps", "auto"), "auto");
  assert.equal(validParam("eps", "fixed"), "fixed");
  assert.equal(validParam("eps", "2.50"), "2.5");
  assert.equal(validParam("eps", "1e-3"), "0.001");
  for (const bad of ["0", "-1", "inf", "knee", ""]) assert.equal(validParam("eps", bad), null, bad);
  assert.equal(validParam("lens", "pca2"), "pca2");
  assert.equal(validParam("lens", "umap"), null);
  assert.equal(validParam("lens", "<b>"), null);
});

test("the URL keeps only set parameters and decodes only valid ones", () => {
  const state = { ...DEFAULTS, run: "r", ...presetPatch("Overlap-50-Epsilon-Fixed"), intervals: "12" };
  const pairs = encodeState(state);
  assert.deepEqual(
    Object.fromEntries(Object.entries(pairs).filter(([k]) => ["intervals", "overlap", "eps", "min_samples", "lens"].includes(k))),
    { intervals: "12", overlap: "0.5", eps: "fixed" },
  );
  assert.deepEqual(decodeState(pairs), { run: "r", intervals: "12", overlap: "0.5", eps: "fixed" });
  assert.deepEqual(encodeState(DEFAULTS), {});
  assert.deepEqual(decodeState({ intervals: "0", overlap: "2", eps: "knee", min_samples: "x", lens: "umap" }), {});
  assert.deepEqual(decodeState({ overlap: "0.30", lens: "pca" }), { overlap: "0.3", lens: "pca" });
});

test("describeParams says how eps was chosen", () => {
  const base = { n_intervals: 20, overlap: 0.3, eps: 0.8412345, min_samples: 5, lens: "l2norm" };
  assert.equal(
    describeParams({ ...base, eps_rule: "fixed", eps_fixed_from: 3 }),
    "20 intervals · overlap 0.3 · eps 0.841 (fixed for the layer, from epoch 3) · min_samples 5 · lens l2norm",
  );
  assert.match(describeParams({ ...base, eps_rule: "knee" }), /eps 0\.841 \(adaptive\)/);
  assert.match(describeParams({ ...base, eps_rule: "given" }), /\(given\)/);
  assert.equal(describeParams(null), "");
});

test("remapBlocked says why a layer cannot be re-mapped", () => {
  assert.equal(remapBlocked({ activations: ["fc1"] }, "fc1"), null);
  assert.match(remapBlocked({ activations: [] }, "fc1"), /store_activations=False/);
  assert.match(remapBlocked({}, "fc1"), /store_activations=False/);
  assert.match(remapBlocked({ activations: ["conv"] }, "fc1"), /none were stored for fc1.*conv/);
});

test("missingActivations names why, and remapBlocked frames the same clause", () => {
  assert.equal(missingActivations({ activations: ["fc1"] }, "fc1"), null);
  const run = missingActivations({ activations: [] }, "fc1");
  assert.equal(run, "this run was logged with store_activations=False");
  assert.equal(missingActivations({}, "fc1"), run);
  assert.match(missingActivations({ activations: ["conv", "fc2"] }, "fc1"), /^none were stored for fc1, .*budget.*conv, fc2/);
  assert.equal(missingActivations({ activations: ["fc1"] }, ""), "no layer is shown");
  for (const info of [{}, { activations: ["conv"] }]) {
    assert.equal(remapBlocked(info, "fc1"), `Re-mapping needs stored activations: ${missingActivations(info, "fc1")}.`);
  }
});

test("num keeps the significant digits asked for, without trailing zeros", () => {
  assert.equal(num(0.123456, 4), "0.1235");
  assert.equal(num(2.5, 4), "2.5");
  assert.equal(num(1234567, 3), "1230000");
  assert.equal(num(Number.NaN), "–");
  assert.equal(num("1"), "–");
});

test("remappedMark marks only re-mapped graphs", () => {
  assert.equal(remappedMark({ remapped: true }), " · re-mapped");
  assert.equal(remappedMark({ nodes: [] }), "");
  assert.equal(remappedMark(null), "");
});
