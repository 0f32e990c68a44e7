"""Mapper parameters of a logged graph, so that stored activations can be mapped again, the same or overridden.

A graph's ``params`` (:attr:`MapperGraph.params`) hold what it was built with plus what was found (the eps chosen,
counts); :func:`logged_mapper_params` keeps the parameters a :class:`~topoact_lightning.Mapper` takes. An eps that
was chosen automatically stays ``"auto"`` (chosen again for the new cover and data), a given eps stays that number.

Example:
    >>> import numpy as np
    >>> from topoact_lightning import Mapper
    >>> x = np.random.default_rng(0).normal(size=(200, 5))
    >>> g = Mapper(n_intervals=6).fit_graph(x)
    >>> logged_mapper_params(g.params)["n_intervals"], logged_mapper_params(g.params)["eps"]
    (6, 'auto')
    >>> Mapper(**logged_mapper_params(g.params, n_intervals=8)).fit_graph(x).params["n_intervals"]
    8
"""

from __future__ import annotations

from typing import Any

#: ``eps=fixed``: one DBSCAN eps for every epoch of a layer, the one its latest logged graph used (TopoAct's
#: "Epsilon-Fixed"; ``"auto"`` is its "Epsilon-Adaptive"). The plugin resolves it per layer
#: (``GraphStore.remap``) and records it in a re-mapped graph's params as ``eps_rule``.
FIXED_EPS = "fixed"

#: Mapper parameters that a graph's ``params`` record under the same name.
_KEPT = ("lens", "n_intervals", "overlap", "cover", "min_samples", "metric", "fast", "scale", "lens_k")


def logged_mapper_params(graph_params: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """:class:`~topoact_lightning.Mapper` keyword arguments of a logged graph, updated with ``overrides``.

    Raises:
        ValueError: the graph was built with a custom clusterer, which its params cannot rebuild.
    """
    clusterer = graph_params.get("clusterer", "dbscan")
    if clusterer != "dbscan":
        raise ValueError(
            f"the graph was built with a custom clusterer ({clusterer}); only DBSCAN graphs re-map"
        )
    params = {k: graph_params[k] for k in _KEPT if graph_params.get(k) is not None}
    if graph_params.get("eps") is not None:
        params["eps"] = "auto" if graph_params.get("eps_rule") == "knee" else graph_params["eps"]
    if graph_params.get("fast") and graph_params.get("n_components") is not None:
        params["n_components"] = graph_params["n_components"]
    params.update(overrides)
    return params


def node_agreement(a: Any, b: Any) -> float:
    """How alike two graphs of the same samples are, node for node: the mean, over the nodes of both, of the best
    Jaccard index of a node's members with a node of the other graph (1.0: the same node sets; 1.0 for two empty
    graphs). Unlike :func:`~topoact_lightning.engine.compare.membership_ari`, the lenses may differ slightly (a
    graph of the stored, float16 activations against the exact one).

    Example:
        >>> import numpy as np
        >>> from topoact_lightning import Mapper
        >>> x = np.random.default_rng(0).normal(size=(200, 5))
        >>> node_agreement(Mapper(n_intervals=6).fit_graph(x), Mapper(n_intervals=6).fit_graph(x))
        1.0
    """
    import numpy as np

    def best(src: list[np.ndarray], dst: list[np.ndarray]) -> list[float]:
        sets = [set(m.tolist()) for m in dst]
        out = []
        for m in src:
            s = set(m.tolist())
            out.append(max((len(s & t) / len(s | t) for t in sets if s & t), default=0.0))
        return out

    scores = best(a.members, b.members) + best(b.members, a.members)
    return float(np.mean(scores)) if scores else 1.0
