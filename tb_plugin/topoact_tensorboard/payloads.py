"""The JSON the browser reads: graph and comparison payloads built from the engine's public API, and strict JSON.

The engine knows nothing of browsers; this module decides what the tab receives. Every number that may be NaN or
infinite goes out as ``null`` (``JSON.parse`` rejects ``NaN`` and ``Infinity``): :func:`json_number` for one value,
:func:`json_column` for a whole array, :func:`to_json` for any structure.

Example:
    >>> import numpy as np
    >>> from topoact_lightning.engine.graph import MapperGraph
    >>> g = MapperGraph(n_samples=3, members=[np.array([0, 1]), np.array([1, 2])], node_cover=np.array([0, 1]),
    ...                 cover_bounds=np.array([[[0.0, 0.6]], [[0.4, 1.0]]]), lens=np.array([0.0, 0.5, 1.0]))
    >>> p = graph_payload(g)
    >>> p["nodes"][0]["members"], p["edges"]
    ([0, 1], [{'source': 0, 'target': 1, 'intersection': 1, 'jaccard': 0.3333333333333333}])
    >>> to_json({"x": float("nan"), "y": [np.float32(1.5), float("inf")]})
    '{"x":null,"y":[1.5,null]}'
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from topoact_lightning.engine.compare import GraphComparison
    from topoact_lightning.engine.graph import MapperGraph


def json_number(v: Any) -> Any:
    """A numpy scalar as a plain Python value; NaN and infinities as None. Anything else is returned as is."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def json_column(values: np.ndarray) -> list[Any]:
    """An array as a list of plain Python values, NaN and infinities as None (one ``tolist`` for the whole column:
    converting element by element dominated large graphs)."""
    values = np.asarray(values)
    out = values.tolist()
    if values.dtype.kind == "f":
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            out[i] = None
    return out


#: Significant digits kept of projection coordinates (relative to the largest): a ten-thousandth of the scatter's
#: extent is far below a pixel, and the answer stays small.
COORDINATE_DIGITS = 4


def round_coordinates(values: np.ndarray, digits: int = COORDINATE_DIGITS) -> list[float]:
    """``values`` rounded to ``digits`` significant digits of the largest absolute value, as a list.

    Example:
        >>> round_coordinates(np.array([123.456789, -0.000123, 1.0]))
        [123.5, -0.0, 1.0]
        >>> round_coordinates(np.zeros(2))
        [0.0, 0.0]
    """
    values = np.asarray(values, dtype=np.float64)
    top = float(np.abs(values).max()) if values.size else 0.0
    if not top or not math.isfinite(top):
        return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).tolist()
    decimals = digits - 1 - math.floor(math.log10(top))
    return np.round(values, decimals).tolist()


def _strict(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return json_number(obj)


def to_json(obj: Any) -> str:
    """Compact strict JSON of ``obj``; NaN and infinities (Python or numpy) become null."""
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError):  # NaN somewhere, or a numpy scalar: take the slow, converting path
        return json.dumps(_strict(obj), allow_nan=False, separators=(",", ":"))


def graph_payload(graph: MapperGraph) -> dict[str, Any]:
    """The graph route's body (before the route adds ``run``, ``layer``, ``epoch``, ``wall_time`` and
    ``annotations``): nodes with statistics, class counts and members, edges with weights, class names, the
    unassigned samples, the graph's metrics and its parameters."""
    columns = {k: json_column(v) for k, v in graph.node_stats().items()}
    hist = graph.class_histograms()
    classes = hist.tolist() if hist.shape[1] else None
    names, covers = graph.node_ids, graph.node_cover.tolist()
    nodes = []
    for i, m in enumerate(graph.members):
        node = {"id": i, "name": names[i], "cover": covers[i], "members": m.tolist()}
        node.update({k: col[i] for k, col in columns.items()})
        if classes is not None:
            node["classes"] = classes[i]
        nodes.append(node)
    edges = [
        {"source": a, "target": b, "intersection": n, "jaccard": j}
        for (a, b), n, j in zip(
            graph.edges.tolist(),
            graph.edge_intersection.tolist(),
            json_column(graph.edge_jaccard),
            strict=True,
        )
    ]
    # Without names, the columns of the class counts are the ids present (sparse ids stay sparse).
    class_names = (
        graph.class_names if graph.class_names is not None else [str(c) for c in graph.classes.tolist()]
    )
    return {
        "n_samples": graph.n_samples,
        "nodes": nodes,
        "edges": edges,
        "class_names": class_names,
        "unassigned": graph.unassigned.tolist(),
        "metrics": {k: json_number(v) for k, v in graph.metrics().items()},
        "params": graph.params,
    }


def comparison_payload(c: GraphComparison) -> dict[str, Any]:
    """The compare route's body (before the route adds ``a`` and ``b``): matches, splits, merges, births, deaths,
    the distance, the threshold, and each node's best partner with its Jaccard index (partner -1: none)."""

    def partners(best: np.ndarray) -> list[dict[str, Any]]:
        return [{"node": i, "partner": int(p), "jaccard": float(w)} for i, (p, w) in enumerate(best.tolist())]

    return {
        "matches": [[int(i), int(j), float(w)] for i, j, w in c.matches],
        "splits": c.splits,
        "merges": c.merges,
        "births": [int(j) for j in c.births],
        "deaths": [int(i) for i in c.deaths],
        "distance": float(c.distance),
        "min_jaccard": float(c.min_jaccard),
        "best_partner_a": partners(c.best_a),
        "best_partner_b": partners(c.best_b),
    }
