"""Class findings from one layer's Mapper graph: ``confusion``, ``separation`` and ``suspect_labels``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from topoact_lightning.engine.memberships import connected_components, membership_pairs
from topoact_lightning.monitor.findings.records import Finding, FindingThresholds

if TYPE_CHECKING:
    from topoact_lightning.engine.graph import MapperGraph


# ------------------------------------------------------------------------------------------- class detectors
def _class_counts(graph: MapperGraph) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's label with unknown ones as -1, and the number of probe samples of each class."""
    k = graph.n_classes
    if graph.labels is None or k == 0:
        return np.full(graph.n_samples, -1), np.zeros(0, dtype=np.int64)
    labels = np.where((graph.labels >= 0) & (graph.labels < k), graph.labels, -1)
    return labels, np.bincount(labels[labels >= 0], minlength=k)


def class_confusion(graph: MapperGraph, node_share: float = 0.1) -> list[dict[str, Any]]:
    """Pairs of classes that share nodes, the most confused first.

    A node *mixes* classes ``a`` and ``b`` when each holds at least ``node_share`` of its labelled members. A
    pair's ``share`` is the share of the probe samples of ``a`` or ``b`` that lie in some node mixing them.
    Each entry: ``classes`` ``[a, b]``, ``share``, ``n_samples`` (how many; ``samples`` is kept for sample ids), ``nodes`` (the mixing nodes' ids).

    Examples
    --------
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> g = MapperGraph(n_samples=6, members=[np.array([0, 1, 2]), np.array([3, 4, 5])], node_cover=np.zeros(2),
    ...                 cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(6), labels=np.array([0, 1, 0, 2, 2, 2]))
    >>> class_confusion(g)
    [{'classes': [0, 1], 'share': 1.0, 'n_samples': 3, 'nodes': [0]}]
    """
    labels, counts = _class_counts(graph)
    hist = graph.class_histograms()
    if len(counts) < 2 or not graph.n_nodes:
        return []
    totals = hist.sum(axis=1, keepdims=True)
    present = (hist > 0) & (hist >= node_share * totals)
    pair_nodes: dict[tuple[int, int], list[int]] = {}
    for node in np.flatnonzero(present.sum(axis=1) >= 2).tolist():
        cls = np.flatnonzero(present[node]).tolist()
        for i, a in enumerate(cls):
            for b in cls[i + 1 :]:
                pair_nodes.setdefault((a, b), []).append(node)
    out = []
    for (a, b), nodes in pair_nodes.items():
        samples = np.unique(np.concatenate([graph.members[n] for n in nodes]))
        hit = int(np.isin(labels[samples], (a, b)).sum())
        out.append(
            {"classes": [a, b], "share": hit / int(counts[a] + counts[b]), "n_samples": hit, "nodes": nodes}
        )
    out.sort(key=lambda p: (-p["share"], p["classes"]))
    return out


def separated_classes(
    graph: MapperGraph, purity: float = 0.9, coverage: float = 0.5
) -> dict[int, dict[str, Any]]:
    """The classes that have a branch or component of the graph of their own.

    Class ``c``'s *nodes* are those in which ``c`` makes up at least ``purity`` of the labelled members; its
    *regions* are the connected components of the subgraph those nodes induce. ``c`` is *separated* when one
    region holds at least ``coverage`` of ``c``'s probe samples. That region is a ``"component"`` when no edge
    leaves it (a connected component of the whole graph), else a ``"branch"`` (attached to the rest through
    mixed or other-class nodes). A region can be one node.

    Returns ``{class: {"nodes", "share", "shape"}}`` for the separated classes, with the best region's nodes,
    the share of ``c``'s samples it holds, and ``"component"`` or ``"branch"``.

    Examples
    --------
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> g = MapperGraph(n_samples=6, members=[np.array([0, 1]), np.array([1, 2]), np.array([3, 4, 5])],
    ...                 node_cover=np.zeros(3), cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(6),
    ...                 labels=np.array([0, 0, 0, 1, 1, 0]))
    >>> separated_classes(g)
    {0: {'nodes': [0, 1], 'share': 0.75, 'shape': 'component'}}
    """
    labels, counts = _class_counts(graph)
    if len(counts) < 2 or not graph.n_nodes:
        return {}
    hist = graph.class_histograms()
    totals = hist.sum(axis=1)
    edges = graph.edges
    out: dict[int, dict[str, Any]] = {}
    for c in np.flatnonzero(counts).tolist():
        mine = (totals > 0) & (hist[:, c] >= purity * totals)
        if not mine.any():
            continue
        inside = mine[edges[:, 0]] & mine[edges[:, 1]]
        roots = connected_components(graph.n_nodes, edges[inside, 0], edges[inside, 1])
        best: tuple[float, list[int]] | None = None
        for root in np.unique(roots[mine]).tolist():
            nodes = np.flatnonzero(mine & (roots == root))
            samples = np.unique(np.concatenate([graph.members[n] for n in nodes]))
            share = int((labels[samples] == c).sum()) / int(counts[c])
            if best is None or share > best[0]:
                best = (share, nodes.tolist())
        if best is not None and best[0] >= coverage:
            region = np.zeros(graph.n_nodes, dtype=bool)
            region[best[1]] = True
            leaves = bool((region[edges[:, 0]] != region[edges[:, 1]]).any())
            out[c] = {"nodes": best[1], "share": best[0], "shape": "branch" if leaves else "component"}
    return out


def suspect_samples(graph: MapperGraph, purity: float = 0.9, min_node_size: int = 5) -> dict[str, np.ndarray]:
    """Labelled probe samples that sit only in nodes pure in a class other than their own.

    A node is *pure in* class ``d`` when it has at least ``min_node_size`` labelled members and ``d`` makes up at
    least ``purity`` of them. A sample is *suspect* when it belongs to at least one node and every node it
    belongs to is pure in a class other than its label (a sample on the border, also in a node of its own class
    or a mixed one, is not). These are the TopoAct paper's candidates for mislabelled or unusual samples.

    Returns arrays ``samples`` (ids, ascending), ``labels`` (theirs), ``node_classes`` (the class of the pure
    node each sits in; of its first one when several) and ``nodes`` (those pure nodes' ids).

    Examples
    --------
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> y = np.array([0] * 9 + [1] + [1] * 6)  # sample 9 is labelled 1 but sits among nine 0s
    >>> g = MapperGraph(n_samples=16, members=[np.arange(10), np.arange(10, 16)], node_cover=np.zeros(2),
    ...                 cover_bounds=np.array([[[0.0, 1.0]]]), lens=np.zeros(16), labels=y)
    >>> {k: v.tolist() for k, v in suspect_samples(g).items()}
    {'samples': [9], 'labels': [1], 'node_classes': [0], 'nodes': [0]}
    """
    labels, counts = _class_counts(graph)
    empty = {k: np.zeros(0, np.int64) for k in ("samples", "labels", "node_classes", "nodes")}
    if len(counts) < 2 or not graph.n_nodes:
        return empty
    hist = graph.class_histograms()
    totals = hist.sum(axis=1)
    major = hist.argmax(axis=1)
    pure = (totals >= min_node_size) & (hist.max(axis=1) >= purity * np.maximum(totals, 1))
    nodes, samples = membership_pairs(graph.members)
    known = labels[samples] >= 0
    nodes, samples = nodes[known], samples[known]
    wrong = pure[nodes] & (major[nodes] != labels[samples])
    n_nodes = np.bincount(samples, minlength=graph.n_samples)
    n_wrong = np.bincount(samples, weights=wrong, minlength=graph.n_samples)
    ids = np.flatnonzero((n_nodes > 0) & (n_wrong == n_nodes))
    if not len(ids):
        return empty
    # The first pure node each suspect sits in: memberships are listed node by node, so the first hit.
    first = {}
    for n, s in zip(nodes[wrong].tolist(), samples[wrong].tolist(), strict=True):
        first.setdefault(s, n)
    return {
        "samples": ids,
        "labels": labels[ids],
        "node_classes": major[[first[s] for s in ids.tolist()]],
        "nodes": np.array(sorted(set(first.values())), dtype=np.int64),
    }


def class_findings(
    step: int, layer: str, graph: MapperGraph, thresholds: FindingThresholds | None = None
) -> list[Finding]:
    """The ``confusion`` and ``suspect_labels`` findings of one layer's graph at one step (``separation`` needs
    the earlier steps: :class:`FindingTracker` reports it from :func:`separated_classes`)."""
    th = thresholds or FindingThresholds()
    names = _class_names(graph)
    out = []
    pairs = [
        p for p in class_confusion(graph, th.confusion_node_share) if p["share"] >= th.confusion_min_share
    ]
    for p in pairs[: th.confusion_top]:
        a, b = p["classes"]
        out.append(
            Finding(step, layer, "confusion",
                    f"classes {names[a]!r} and {names[b]!r} share {len(p['nodes'])} node(s), which hold "
                    f"{p['share']:.0%} of their probe samples",
                    {**p, "class_names": [names[a], names[b]], "nodes": p["nodes"][: th.max_ids]})
        )  # fmt: skip
    suspects = suspect_samples(graph, th.suspect_purity, th.suspect_min_node_size)
    n = len(suspects["samples"])
    if n:
        shown = suspects["samples"][: th.max_ids].tolist()
        listed = ", ".join(map(str, shown[:10])) + (", ..." if n > 10 else "")
        out.append(
            Finding(step, layer, "suspect_labels",
                    f"{n} probe sample(s) sit only in nodes pure in another class than their label (ids {listed})",
                    {"count": n, "samples": shown, "labels": suspects["labels"][: th.max_ids].tolist(),
                     "node_classes": suspects["node_classes"][: th.max_ids].tolist(),
                     "nodes": suspects["nodes"][: th.max_ids].tolist()})
        )  # fmt: skip
    return out


def separation_findings(
    step: int,
    layer: str,
    graph: MapperGraph,
    thresholds: FindingThresholds | None = None,
) -> list[Finding]:
    """A ``separation`` finding for every class separated in this graph (:func:`separated_classes`); the
    tracker keeps only each class's first."""
    th = thresholds or FindingThresholds()
    names = _class_names(graph)
    out = []
    for c, region in separated_classes(graph, th.separation_purity, th.separation_coverage).items():
        out.append(
            Finding(step, layer, "separation",
                    f"class {names[c]!r} has a {region['shape']} of its own ({len(region['nodes'])} node(s) "
                    f"holding {region['share']:.0%} of its probe samples)",
                    {"class": c, "class_name": names[c], **region, "nodes": region["nodes"][: th.max_ids]})
        )  # fmt: skip
    return out


def _class_names(graph: MapperGraph) -> list[str]:
    if graph.class_names is not None:
        return list(graph.class_names)
    return [str(i) for i in range(graph.n_classes)]
