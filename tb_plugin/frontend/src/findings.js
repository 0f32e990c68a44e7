// The monitor's findings (the findings route) as the tab uses them: kinds and their labels, filtering and grouping
// for the findings panel, the per-layer fault warnings behind the ⚠ badge, and which nodes a finding highlights.
// Pure functions: nothing in here touches the DOM (findingspanel.js draws).

/** Warnings: reported once per layer (topoact_lightning.monitor.findings.FAULT_KINDS). */
export const FAULT_KINDS = Object.freeze(["dead", "constant", "collapsed", "saturated", "not_learning", "exploding"]);
/** Informational, at each logged step (CLASS_KINDS). */
export const CLASS_KINDS = Object.freeze(["confusion", "separation", "suspect_labels"]);

/** A kind as people read it ("not_learning" -> "not learning"). */
export function kindLabel(kind) {
  return String(kind).replace(/_/g, " ");
}

/** True for a fault finding: the route's `fault` flag, or a fault kind. */
export function isFault(f) {
  return f.fault === true || FAULT_KINDS.includes(f.kind);
}

const isId = (v) => Number.isInteger(v) && v >= 0;

/**
 * The route's findings that the panel can show, each `{step, layer, kind, fault, message, details}`; anything
 * else (a payload from another version, a hand-made one) is dropped rather than drawn wrong.
 */
export function cleanFindings(payload) {
  const list = payload && Array.isArray(payload.findings) ? payload.findings : [];
  return list
    .filter((f) => f && Number.isFinite(f.step) && typeof f.layer === "string" && typeof f.kind === "string")
    .map((f) => {
      const details = f.details && typeof f.details === "object" && !Array.isArray(f.details) ? f.details : {};
      const ids = (v) => (Array.isArray(v) ? v.filter(isId) : []);
      return {
        step: f.step,
        layer: f.layer,
        kind: f.kind,
        fault: isFault(f),
        message: typeof f.message === "string" ? f.message : "",
        details,
        nodes: ids(details.nodes),
        samples: ids(details.samples),
      };
    });
}

/** `[[kind, count]]` of the kinds present: fault kinds first, then class kinds, then any others, by name. */
export function kindCounts(findings) {
  const counts = new Map();
  for (const f of findings) counts.set(f.kind, (counts.get(f.kind) || 0) + 1);
  const order = [...FAULT_KINDS, ...CLASS_KINDS];
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  return [...counts].sort((a, b) => rank(a[0]) - rank(b[0]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The findings of the chosen kinds (an empty set chooses all). */
export function filterFindings(findings, kinds) {
  return kinds && kinds.size ? findings.filter((f) => kinds.has(f.kind)) : findings;
}

/**
 * `[[step, findings]]`, the newest step first (while a run trains, what it does now matters most), each step's
 * faults before its class findings, otherwise in the route's order (watch order of layers).
 */
export function groupByStep(findings) {
  const groups = new Map();
  for (const f of findings) {
    if (!groups.has(f.step)) groups.set(f.step, []);
    groups.get(f.step).push(f);
  }
  for (const group of groups.values()) group.sort((a, b) => Number(b.fault) - Number(a.fault));
  return [...groups].sort((a, b) => b[0] - a[0]);
}

/** A finding as one line of text: "dead: 90% of its units never fire". */
export function findingText(f) {
  return `${kindLabel(f.kind)}: ${f.message}`;
}

/**
 * The health warning of each layer, for the layer picker and the ⚠ badge: the metrics route's `problems`
 * (`problems[layer]`: `[[epoch, text]]`) merged with the fault findings. A finding whose message the epoch's
 * problem already holds (the callback writes the fault messages there) adds its kind, not its text again.
 * Returns `{layer: {epoch, text, short, all}}`: `epoch` the latest warned one, `all` every `[epoch, text]`, `text`
 * all of them one per line (the tooltip), `short` the badge ("health warning: dead (epoch 0)").
 */
export function layerHealth(problems, findings) {
  const byLayer = new Map();
  const at = (layer, epoch) => {
    if (!byLayer.has(layer)) byLayer.set(layer, new Map());
    const m = byLayer.get(layer);
    if (!m.has(epoch)) m.set(epoch, { texts: [], kinds: [] });
    return m.get(epoch);
  };
  for (const [layer, list] of Object.entries(problems || {})) {
    for (const [epoch, text] of list) at(layer, epoch).texts.push(String(text));
  }
  for (const f of findings) {
    if (!f.fault) continue;
    const slot = at(f.layer, f.step);
    if (!slot.texts.some((t) => f.message && t.includes(f.message))) slot.texts.push(findingText(f));
    if (!slot.kinds.includes(kindLabel(f.kind))) slot.kinds.push(kindLabel(f.kind));
  }
  const out = {};
  for (const [layer, m] of byLayer) {
    const epochs = [...m.keys()].sort((a, b) => a - b);
    const all = epochs.flatMap((e) => m.get(e).texts.map((t) => [e, t]));
    const epoch = epochs[epochs.length - 1];
    const kinds = [...new Set(epochs.flatMap((e) => m.get(e).kinds))];
    out[layer] = {
      epoch,
      all,
      text: all.map(([e, t]) => `epoch ${e}: ${t}`).join("\n"),
      short: `health warning${kinds.length ? ": " + kinds.join(", ") : ""} (epoch ${epoch})`,
    };
  }
  return out;
}

/** True when finding `f` is about what the view shows now (its run, layer and epoch). */
export function findingShown(f, run, state) {
  return Boolean(f) && run === state.run && f.layer === state.layer && f.step === state.epoch;
}

/** Indices of graph `g`'s nodes that finding `f` names (ids missing from `g` are skipped), or null for none. */
export function findingNodes(g, f) {
  if (!g || !f || !f.nodes.length) return null;
  const out = new Set();
  for (const id of f.nodes) {
    const i = g.index.get(id);
    if (i !== undefined) out.add(i);
  }
  return out.size ? out : null;
}

/** Both focus sets at once (null means no restriction). */
export function intersectFocus(a, b) {
  if (!a) return b;
  if (!b) return a;
  return new Set([...a].filter((i) => b.has(i)));
}

/** The state patch that shows finding `f`: its layer and epoch, its samples tracked when it names some. */
export function findingPatch(f) {
  const patch = { layer: f.layer, epoch: f.step, node: null };
  if (f.samples.length) patch.track = f.samples.slice(0, 500);
  return patch;
}
