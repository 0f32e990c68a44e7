// Shared by the node tests: a graph payload as the graph route sends it, and a seeded random generator.

/** A small payload as the graph route sends it: nodes as `[members, classes]`, edges as `[source, target]`. */
export function payload(nodes, edges, classNames = ["0", "1", "2", "7"]) {
  return {
    nodes: nodes.map(([members, classes], id) => ({ id, members, size: members.length, classes })),
    edges: edges.map(([source, target]) => ({ source, target, jaccard: 0.5, intersection: 1 })),
    class_names: classNames,
    n_samples: 10,
  };
}

/** A seeded pseudo-random generator (mulberry32), for property checks. */
export function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
