"""A Mapper graph in other libraries' shapes: KeplerMapper's graph dict and a networkx graph.

Example:
    >>> import numpy as np
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> g = MapperGraph(n_samples=3, members=[np.array([0, 1]), np.array([1, 2])], node_cover=np.array([0, 1]),
    ...                 cover_bounds=np.array([[[0.0, 0.6]], [[0.4, 1.0]]]), lens=np.array([0.0, 0.5, 1.0]))
    >>> to_kmapper(g)["links"]
    {'cube0_cluster0': ['cube1_cluster0']}
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from topoact_lightning.engine.graph import MapperGraph


def to_kmapper(graph: MapperGraph) -> dict[str, Any]:
    """The graph as KeplerMapper's graph dict, so ``kmapper.KeplerMapper().visualize(...)`` renders it."""
    ids = graph.node_ids
    links: dict[str, list[str]] = {}
    for a, b in graph.edges.tolist():
        links.setdefault(ids[a], []).append(ids[b])
    simplices = [[i] for i in ids] + [[ids[a], ids[b]] for a, b in graph.edges.tolist()]
    return {
        "nodes": {ids[i]: m.tolist() for i, m in enumerate(graph.members)},
        "links": links,
        "simplices": simplices,
        "meta_data": {
            "projection": str(graph.params.get("lens", "custom")),
            "n_cubes": graph.params.get("n_intervals", len(graph.cover_bounds)),
            "perc_overlap": graph.params.get("overlap", 0.0),
            "clusterer": str(graph.params.get("clusterer", "")),
            "scaler": "None",
        },
        "meta_nodes": {},
    }


def to_networkx(graph: MapperGraph):
    """The graph as a ``networkx.Graph``; node attributes hold members and statistics, edges their weights."""
    import networkx as nx

    g = nx.Graph()
    stats = graph.node_stats()
    for i, m in enumerate(graph.members):
        attrs = {k: _py(v[i]) for k, v in stats.items()}
        g.add_node(i, members=m.tolist(), cover_element=int(graph.node_cover[i]), **attrs)
    for (a, b), inter, jac in zip(
        graph.edges.tolist(), graph.edge_intersection.tolist(), graph.edge_jaccard.tolist(), strict=True
    ):
        g.add_edge(a, b, intersection=inter, jaccard=jac)
    return g


def _py(v: Any) -> Any:
    """A numpy scalar as a plain Python value; NaN and infinities as None (JSON has no NaN)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
