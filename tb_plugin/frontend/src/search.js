// The search box and the class filter: what a query means, which nodes it finds, and which nodes the view's
// filters keep in focus. Nothing in here touches the DOM.

import { nodesContaining } from "./graph.js";

/**
 * The node indices of `g` the view's filters keep in focus (the rest is faded), or null when none is set: the
 * class filter (`cls`: nodes holding that class), the search (`q`, unless `noMatch`: a search that finds nothing
 * in the main graph fades nothing anywhere) and the projection's selection (`psel`: nodes holding a selected
 * sample). Several at once: the nodes all of them keep.
 */
export function focusSet(g, state, noMatch = false) {
  let set = null;
  const intersect = (s) => {
    if (set === null) set = s;
    else set = new Set([...set].filter((i) => s.has(i)));
  };
  if (state.cls !== null && state.cls !== undefined) {
    const k = state.cls;
    intersect(new Set(g.nodes.filter((n) => Array.isArray(n.classes) && n.classes[k] > 0).map((n) => n.index)));
  }
  const q = (state.q || "").trim();
  if (q && !noMatch) intersect(searchNodes(g, q));
  if (state.psel.length) intersect(nodesContaining(g, state.psel));
  return set;
}

/** What the search box means by its text; also documented in its tooltip and the README. */
export const SEARCH_HELP =
  "#5: node 5 · 12 or s12: the nodes holding sample 12 · class:7 (or c:7): class named 7 (for numeric names) · " +
  "any other text: classes whose name contains it. Enter on sample ids (12, 40) tracks them across epochs.";

/**
 * Parses a search: `#12` is node 12; `12` or `s12` is sample 12; `class:7` or `c:7` is the class named "7" (exact,
 * case-insensitive; the only way to reach a class whose name is a number); other text is part of a class name.
 * Returns `{kind: "node", id}`, `{kind: "sample", id}`, `{kind: "class", name, exact}` or null for an empty query.
 */
export function parseSearch(q) {
  q = String(q ?? "").trim();
  if (!q) return null;
  let m = /^#(\d+)$/.exec(q);
  if (m) return { kind: "node", id: Number(m[1]) };
  m = /^s?(\d+)$/i.exec(q);
  if (m) return { kind: "sample", id: Number(m[1]) };
  m = /^(?:class|c):\s*(.+)$/i.exec(q);
  if (m) return { kind: "class", name: m[1].trim(), exact: true };
  return { kind: "class", name: q, exact: false };
}

/** Sample ids of a list such as "12, 40 s7" (for tracking), or null when any token is not a sample id. */
export function parseSampleList(text) {
  const tokens = String(text ?? "").split(/[\s,]+/).filter(Boolean);
  if (!tokens.length || !tokens.every((t) => /^s?\d+$/i.test(t))) return null;
  return [...new Set(tokens.map((t) => parseInt(t.replace(/^s/i, ""), 10)))];
}

/** Class indices whose name matches a parsed class query. */
export function matchClasses(classNames, name, exact) {
  const needle = name.toLowerCase();
  const out = new Set();
  classNames.forEach((c, k) => {
    const have = String(c).toLowerCase();
    if (exact ? have === needle : have.includes(needle)) out.add(k);
  });
  return out;
}

/** Nodes matching a search (see parseSearch); a class matches the nodes whose dominant class it is. */
export function searchNodes(g, q) {
  const parsed = parseSearch(q);
  if (!parsed) return new Set();
  if (parsed.kind === "node") {
    const i = g.index.get(parsed.id);
    return new Set(i === undefined ? [] : [i]);
  }
  if (parsed.kind === "sample") return nodesContaining(g, [parsed.id]);
  const classes = matchClasses(g.class_names, parsed.name, parsed.exact);
  return new Set(g.nodes.filter((n) => classes.has(n.dominant)).map((n) => n.index));
}

/**
 * True when the state's search names something that `g` (the main view's graph) does not hold: the search box
 * then says "no match" and nothing is faded, rather than every node.
 */
export function searchMisses(g, q) {
  return Boolean(g) && parseSearch(q) !== null && searchNodes(g, q).size === 0;
}
