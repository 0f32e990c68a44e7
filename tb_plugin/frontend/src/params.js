// Mapper parameters of the parameter card: their limits and options as the server states them (the params route),
// TopoAct's six presets, the view-state keys that hold the parameters (URL-safe strings, "" meaning "as logged"),
// and the query the graph, compare, metrics and track routes take to re-map from stored activations.
// Nothing in here touches the DOM (unit-tested by node --test).

/** View-state key -> the routes' query parameter. */
export const PARAM_KEYS = Object.freeze({
  intervals: "n_intervals",
  overlap: "overlap",
  eps: "eps",
  min_samples: "min_samples",
  lens: "lens",
  dist: "metric",
});

/** The state keys the card writes (a change of any of them re-maps). */
export const PARAM_STATE_KEYS = Object.freeze(Object.keys(PARAM_KEYS));

/**
 * The params route's answer checked and frozen: `{n_intervals: {type, min, max, ...}, ...}` for the parameters
 * the card knows, each `{type: "integer" | "number" | "choice", min?, max?, min_exclusive?, max_exclusive?,
 * options?}`. The server states each limit once; the front end only reads them. Throws on an answer of another
 * shape (the card is then disabled with the reason).
 */
export function parseSpec(answer) {
  const params = answer && answer.parameters;
  if (!params || typeof params !== "object") throw new Error("the params route sent no parameters");
  const out = {};
  for (const name of Object.values(PARAM_KEYS)) {
    const p = params[name];
    if (!p || !["integer", "number", "choice"].includes(p.type)) throw new Error(`the params route does not describe ${name}`);
    const options = Array.isArray(p.options) ? p.options.map(String) : [];
    if (p.type === "choice" && !options.length) throw new Error(`the params route lists no options for ${name}`);
    const bound = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    out[name] = Object.freeze({
      type: p.type,
      min: bound(p.min),
      max: bound(p.max),
      minExclusive: Boolean(p.min_exclusive),
      maxExclusive: Boolean(p.max_exclusive),
      options: Object.freeze(options),
    });
  }
  return Object.freeze(out);
}

/** The rule of state key `key` in a parsed spec, or null. */
export function ruleOf(spec, key) {
  return (spec && spec[PARAM_KEYS[key]]) || null;
}

/** True when number `x` is within the rule's bounds. */
function inBounds(rule, x) {
  if (rule.min !== null && (rule.minExclusive ? x <= rule.min : x < rule.min)) return false;
  if (rule.max !== null && (rule.maxExclusive ? x >= rule.max : x > rule.max)) return false;
  return Number.isFinite(x);
}

/** The rule's range in words, as the card's tooltips say it ("an integer from 1 to 1000", "a number in [0, 1)"). */
export function describeRule(rule) {
  if (!rule) return "";
  if (rule.type === "choice") return `one of ${rule.options.join(", ")}`;
  const lo = rule.min === null ? "" : `${rule.minExclusive ? "(" : "["}${rule.min}`;
  const hi = rule.max === null ? "" : `${rule.max}${rule.maxExclusive ? ")" : "]"}`;
  const range = rule.type === "integer" && !rule.minExclusive && !rule.maxExclusive && lo && hi
    ? `from ${rule.min} to ${rule.max}`
    : lo && hi ? `in ${lo}, ${hi}` : lo ? `${rule.minExclusive ? "above" : "at least"} ${rule.min}` : hi ? `${rule.maxExclusive ? "below" : "at most"} ${rule.max}` : "";
  const kind = rule.type === "integer" ? "an integer" : "a number";
  const also = rule.options.length ? ` (or ${rule.options.join(", ")})` : "";
  return `${kind}${range ? " " + range : ""}${also}`;
}

export const AS_LOGGED = "As logged";
export const CUSTOM = "Custom";

/**
 * TopoAct's settings, labelled as it labels them: the cover's overlap, and a DBSCAN eps that is the same for every
 * epoch of the layer ("fixed": the one its latest logged graph used) or chosen per epoch ("auto": the knee rule).
 * The interval count, min_samples and lens stay as logged.
 */
export const PRESETS = Object.freeze(
  ["Fixed", "Adaptive"].flatMap((kind) =>
    [20, 30, 50].map((pct) =>
      Object.freeze({
        name: `Overlap-${pct}-Epsilon-${kind}`,
        overlap: String(pct / 100),
        eps: kind === "Fixed" ? "fixed" : "auto",
      }),
    ),
  ),
);

/** TopoAct's order in its dropdown: the three overlaps with a fixed eps, then with an adaptive one. */
export const PRESET_NAMES = Object.freeze(PRESETS.map((p) => p.name));

/** The tooltip of the preset picker (TopoAct's: overlap is the cover's, epsilon is DBSCAN's). */
export const PRESET_HELP =
  "Overlap: how much neighbouring intervals of the Mapper cover overlap. Epsilon: the DBSCAN radius that clusters " +
  "each interval; Fixed: one value for every epoch of the layer (the one its latest logged graph used), Adaptive: " +
  "chosen for each epoch by the knee rule. Presets keep the logged interval count, min_samples and lens.";

const INT = /^[0-9]{1,9}$/;
const NUM = /^(?:[0-9]{1,9}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][-+]?[0-9]{1,3})?$/;

/**
 * `raw` (a URL or field value) as the state holds it, or null when the server's `spec` (parseSpec) says the
 * parameter cannot take it (and always without a spec). Numbers come back in one spelling ("0.30" -> "0.3") so
 * equal settings share a URL.
 */
export function validParam(key, raw, spec) {
  const rule = ruleOf(spec, key);
  if (!rule || typeof raw !== "string") return null;
  const s = raw.trim();
  if (rule.options.includes(s)) return s;
  if (rule.type === "choice") return null;
  if (!(rule.type === "integer" ? INT : NUM).test(s)) return null;
  const x = Number(s);
  return inBounds(rule, x) ? String(x) : null;
}

/** The route query of the state's parameters (only those set: `{}` means "show the logged graphs"). */
export function mapperQuery(state) {
  const out = {};
  for (const [key, name] of Object.entries(PARAM_KEYS)) {
    const v = state[key];
    if (v !== undefined && v !== null && v !== "") out[name] = String(v);
  }
  return out;
}

/** True when the state asks for re-mapping. */
export function remapping(state) {
  return remaps(mapperQuery(state));
}

/** True when a route query (as mapperQuery gives it) re-maps rather than showing the logged graphs. */
export function remaps(query) {
  return Object.keys(query || {}).length > 0;
}

/** The state's parameter values that `query` (a route query, as mapperQuery gives) sets: the others cleared. */
export function paramsOfQuery(query) {
  const out = {};
  for (const [key, name] of Object.entries(PARAM_KEYS)) out[key] = query && query[name] !== undefined ? String(query[name]) : "";
  return out;
}

/** What choosing `name` (a preset, or AS_LOGGED) writes to the state. */
export function presetPatch(name) {
  const p = PRESETS.find((x) => x.name === name);
  const cleared = Object.fromEntries(Object.keys(PARAM_KEYS).map((k) => [k, ""]));
  return p ? { ...cleared, overlap: p.overlap, eps: p.eps } : cleared;
}

/** The picker's entry for the state: AS_LOGGED, a preset's name, or CUSTOM when the fields match none. */
export function presetOf(state) {
  const q = mapperQuery(state);
  const keys = Object.keys(q);
  if (!keys.length) return AS_LOGGED;
  for (const p of PRESETS) {
    if (keys.length === 2 && q.eps === p.eps && Number(q.overlap) === Number(p.overlap)) return p.name;
  }
  return CUSTOM;
}

/** `v` to `digits` significant digits, without trailing zeros ("–" when it is not a finite number). */
export function num(v, digits = 3) {
  return typeof v === "number" && Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : "–";
}

/**
 * One line saying what a graph was built with, from its payload's `params`: intervals, overlap, eps and how it was
 * chosen (fixed for the layer, automatic per epoch, or given), min_samples and lens.
 */
export function describeParams(params) {
  const p = params || {};
  const rule =
    p.eps_rule === "fixed"
      ? `fixed for the layer${p.eps_fixed_from !== undefined ? `, from epoch ${p.eps_fixed_from}` : ""}`
      : p.eps_rule === "knee"
        ? "adaptive"
        : "given";
  const parts = [
    p.n_intervals !== undefined ? `${p.n_intervals} intervals` : null,
    p.overlap !== undefined ? `overlap ${num(p.overlap, 2)}` : null,
    p.eps !== undefined ? `eps ${num(p.eps)} (${rule})` : null,
    p.min_samples !== undefined ? `min_samples ${p.min_samples}` : null,
    p.lens ? `lens ${p.lens}` : null,
    p.metric ? `metric ${p.metric}` : null,
  ];
  return parts.filter(Boolean).join(" · ");
}

/**
 * Why `layer` of a run (a `runs` route entry) has no stored activations, as a clause naming the cause: nothing
 * stored in the run, or none for this layer; null when it has them. Re-mapping and the projection both need them.
 */
export function missingActivations(info, layer) {
  if (!layer) return "no layer is shown";
  const stored = (info && info.activations) || [];
  if (stored.includes(layer)) return null;
  return stored.length
    ? `none were stored for ${layer}, its matrix being over the store_activations budget (layers with them: ${stored.join(", ")})`
    : "this run was logged with store_activations=False";
}

/** Why `layer` of a run cannot be re-mapped, in one line; null when it can. */
export function remapBlocked(info, layer) {
  const why = missingActivations(info, layer);
  return why && `Re-mapping needs stored activations: ${why}.`;
}

/** The caption's note that a view shows a graph re-mapped with the parameter card's settings, not the logged one. */
export function remappedMark(g) {
  return g && g.remapped ? " · re-mapped" : "";
}
