// Pure functions of the Mapper parameter card (src/params.js): run with `npm test` (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AS_LOGGED,
  CUSTOM,
  PRESET_NAMES,
  describeParams,
  describeRule,
  mapperQuery,
  paramsOfQuery,
  parseSpec,
  missingActivations,
  num,
  presetOf,
  presetPatch,
  remapBlocked,
  remappedMark,
  remapping,
  remaps,
  validParam,
  validParam as validSpec,
} from "../src/params.js";
import { readFileSync } from "node:fs";
import { DEFAULTS, decodeState, encodeState } from "../src/state.js";

/** The params route's answer as /work/helpers' contract shapes it (test/fixtures/params.json). */
const ANSWER = JSON.parse(readFileSync(new URL("./fixtures/params.json", import.meta.url), "utf8"));
const SPEC = parseSpec(ANSWER);

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

test("parseSpec reads the params route's answer, and refuses one of another shape", () => {
  assert.deepEqual(SPEC.n_intervals, { type: "integer", min: 1, max: 1000, minExclusive: false, maxExclusive: false, options: [] });
  assert.deepEqual(SPEC.overlap, { type: "number", min: 0, max: 1, minExclusive: false, maxExclusive: true, options: [] });
  assert.deepEqual(SPEC.eps.options, ["auto", "fixed"]);
  assert.deepEqual(SPEC.metric.options, ["euclidean", "cosine"]);
  assert.ok(Object.isFrozen(SPEC) && Object.isFrozen(SPEC.lens));
  assert.throws(() => parseSpec(null), /no parameters/);
  assert.throws(() => parseSpec({ parameters: { ...ANSWER.parameters, metric: undefined } }), /metric/);
  assert.throws(() => parseSpec({ parameters: { ...ANSWER.parameters, lens: { type: "choice" } } }), /no options for lens/);
});

test("the limits are the server's: a cap it lowers, an option it adds, are what the card takes", () => {
  const other = parseSpec({
    parameters: {
      ...ANSWER.parameters,
      n_intervals: { type: "integer", min: 2, max: 50 },
      metric: { type: "choice", options: ["euclidean", "cosine", "manhattan"] },
    },
  });
  assert.equal(validParam("intervals", "60", SPEC), "60");
  assert.equal(validParam("intervals", "60", other), null);
  assert.equal(validParam("intervals", "1", other), null);
  assert.equal(validParam("dist", "manhattan", SPEC), null);
  assert.equal(validParam("dist", "manhattan", other), "manhattan");
  // Without the server's rules nothing is valid (the card is disabled until they come).
  assert.equal(validParam("intervals", "20", null), null);
  assert.equal(describeRule(other.n_intervals), "an integer from 2 to 50");
  assert.equal(describeRule(SPEC.overlap), "a number in [0, 1)");
  assert.equal(describeRule(SPEC.eps), "a number above 0 (or auto, fixed)");
  assert.equal(describeRule(SPEC.metric), "one of euclidean, cosine");
});

test("remaps tells a re-mapping query from the logged graphs' (a query, not a state)", () => {
  assert.equal(remaps({}), false);
  assert.equal(remaps(null), false);
  assert.equal(remaps({ n_intervals: "0" }), true);
  assert.equal(remaps(mapperQuery({ ...DEFAULTS, intervals: "7" })), true);
});

test("paramsOfQuery gives the state of a route query back (a refused value's way out of the URL)", () => {
  assert.deepEqual(paramsOfQuery({ n_intervals: "7", metric: "cosine" }), {
    intervals: "7", overlap: "", eps: "", min_samples: "", lens: "", dist: "cosine",
  });
  assert.deepEqual(mapperQuery({ ...DEFAULTS, ...paramsOfQuery({ overlap: "0.5", eps: "fixed" }) }), { overlap: "0.5", eps: "fixed" });
  assert.deepEqual(paramsOfQuery({}), { intervals: "", overlap: "", eps: "", min_samples: "", lens: "", dist: "" });
});

test("validParam accepts what the server accepts and one spelling of it", () => {
  const validParam = (key, raw) => validSpec(key, raw, SPEC);
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
  assert.equal(validParam("dist", "cosine"), "cosine");
  assert.equal(validParam("dist", "euclid"), null);
});

test("the URL keeps only set parameters and decodes only valid ones", () => {
  const state = { ...DEFAULTS, run: "r", ...presetPatch("Overlap-50-Epsilon-Fixed"), intervals: "12" };
  const pairs = encodeState(state);
  assert.deepEqual(
    Object.fromEntries(Object.entries(pairs).filter(([k]) => ["intervals", "overlap", "eps", "min_samples", "lens"].includes(k))),
    { intervals: "12", overlap: "0.5", eps: "fixed" },
  );
  assert.deepEqual(decodeState(pairs, SPEC), { run: "r", intervals: "12", overlap: "0.5", eps: "fixed" });
  assert.deepEqual(encodeState(DEFAULTS), {});
  const bad = { intervals: "0", overlap: "2", eps: "knee", min_samples: "x", lens: "umap", dist: "nope" };
  assert.deepEqual(decodeState(bad, SPEC), {});
  assert.deepEqual(decodeState({ overlap: "0.30", lens: "pca", dist: "cosine" }, SPEC), { overlap: "0.3", lens: "pca", dist: "cosine" });
  // Without the server's rules, the URL's parameters are dropped rather than trusted.
  assert.deepEqual(decodeState({ run: "r", overlap: "0.3" }, null), { run: "r" });
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
