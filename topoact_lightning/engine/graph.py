"""The Mapper graph: nodes, edges, per-node statistics and metrics (its encoding: :mod:`.serialization`).

A :class:`MapperGraph` is what :class:`topoact_lightning.Mapper` produces and what the callback logs to
TensorBoard. It keeps the per-sample data (lens values, labels, extras such as correctness or loss) beside the
node member lists, so that every statistic shown in the plugin is derived from one stored object.

Example:
    >>> import numpy as np
    >>> g = MapperGraph(
    ...     n_samples=4,
    ...     members=[np.array([0, 1]), np.array([1, 2, 3])],
    ...     node_cover=np.array([0, 1]),
    ...     cover_bounds=np.array([[[0.0, 0.6]], [[0.4, 1.0]]]),
    ...     lens=np.array([0.0, 0.5, 0.8, 1.0], dtype=np.float32),
    ...     labels=np.array([0, 0, 1, 1]),
    ... )
    >>> g.edges.tolist(), g.edge_intersection.tolist()
    ([[0, 1]], [1])
    >>> MapperGraph.from_bytes(g.to_bytes()) == g
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from topoact_lightning.engine import export, metrics
from topoact_lightning.engine.memberships import membership_pairs, sample_index, shared_counts
from topoact_lightning.engine.serialization import (
    FORMAT_NAME,
    FORMAT_VERSION,
    GraphFormatError,
    decode,
    encode,
)

__all__ = [
    "CATEGORICAL_EXTRAS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GraphFormatError",
    "MapperGraph",
    "nerve_edges",
]

#: Per-sample extras that hold class indices: a mean of them means nothing, so no ``mean_<name>`` statistic.
CATEGORICAL_EXTRAS = frozenset({"prediction"})


def nerve_edges(members: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of nodes that share at least one sample, with the number of samples they share.

    Each sample lies in a few nodes at most, so joining the ``(node, sample)`` memberships on the sample gives
    every intersection size at once, instead of comparing every pair of nodes
    (:func:`topoact_lightning.engine.memberships.shared_counts`).

    Returns:
        ``edges`` of shape ``(n_edges, 2)`` with ``i < j``, sorted lexicographically, and ``intersection`` sizes.
    """
    if len(members) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows, cols, counts = shared_counts(members, members, upper=True)
    return np.stack([rows, cols], axis=1), counts


class MapperGraph:
    """A Mapper graph over ``n_samples`` fixed samples.

    Args:
        n_samples: number of samples the graph was built from (node members index into ``range(n_samples)``).
        members: one array of sample indices per node (stored sorted and unique).
        node_cover: the cover element each node was clustered in, shape ``(n_nodes,)``.
        cover_bounds: lower and upper lens bounds of every cover element, shape ``(n_elements, lens_dim, 2)``.
        lens: the lens value of every sample, shape ``(n_samples,)`` or ``(n_samples, lens_dim)``.
        labels: optional class id per sample (``-1`` for unknown). Ids may be sparse or large: statistics are
            sized by the classes present (:attr:`classes`), never by the largest id.
        class_names: optional name per class id (then every id must be below ``len(class_names)``).
        extras: optional per-sample values (for instance ``"correct"``, ``"loss"``), each of shape ``(n_samples,)``.
        params: the parameters the graph was built with (JSON-serializable), including automatically chosen ones.
        edges, edge_intersection: the nerve; computed from ``members`` when not given.
    """

    def __init__(
        self,
        *,
        n_samples: int,
        members: Sequence[np.ndarray],
        node_cover: np.ndarray,
        cover_bounds: np.ndarray,
        lens: np.ndarray,
        labels: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        params: Mapping[str, Any] | None = None,
        edges: np.ndarray | None = None,
        edge_intersection: np.ndarray | None = None,
    ) -> None:
        self.n_samples = int(n_samples)
        self.members = [np.unique(np.asarray(m, dtype=np.int64)) for m in members]
        self.node_cover = np.asarray(node_cover, dtype=np.int64).reshape(len(self.members))
        self.cover_bounds = np.asarray(cover_bounds, dtype=np.float64)
        if self.cover_bounds.ndim == 2:
            self.cover_bounds = self.cover_bounds[:, None, :]
        self.lens = np.asarray(lens, dtype=np.float32)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.extras = {str(k): np.asarray(v, dtype=np.float32) for k, v in (extras or {}).items()}
        self.params = json.loads(json.dumps(dict(params or {}), default=_json_default))
        if edges is None:
            edges, edge_intersection = nerve_edges(self.members)
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        self.edge_intersection = np.asarray(edge_intersection, dtype=np.int64).reshape(len(self.edges))
        self._validate()

    def _validate(self) -> None:
        n = self.n_samples
        for i, m in enumerate(self.members):
            if len(m) == 0:
                raise ValueError(f"node {i} has no members")
            if m[0] < 0 or m[-1] >= n:
                raise ValueError(f"node {i} has a member outside range({n})")
        if len(self.lens) != n:
            raise ValueError(f"lens has {len(self.lens)} values for {n} samples")
        if self.labels is not None:
            self._validate_labels()
        for k, v in self.extras.items():
            if v.shape != (n,):
                raise ValueError(f"extra {k!r} has shape {v.shape}, expected ({n},)")
        if len(self.node_cover) and (
            self.node_cover.min() < 0 or self.node_cover.max() >= len(self.cover_bounds)
        ):
            raise ValueError("node_cover refers to a cover element that cover_bounds does not have")

    def _validate_labels(self) -> None:
        n = self.n_samples
        if len(self.labels) != n:
            raise ValueError(f"labels has {len(self.labels)} values for {n} samples")
        if n and self.labels.min() < -1:
            raise ValueError(
                f"labels holds {int(self.labels.min())}: class ids must be >= 0, with -1 for an unknown class"
            )
        if n and self.class_names is not None and self.labels.max() >= len(self.class_names):
            raise ValueError(
                f"label {int(self.labels.max())} has no class name: class_names has {len(self.class_names)} "
                "names; give a name for every class id, or leave class_names out"
            )

    # ----------------------------------------------------------------------------------------------- structure
    @property
    def n_nodes(self) -> int:
        return len(self.members)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def node_sizes(self) -> np.ndarray:
        return np.fromiter((len(m) for m in self.members), dtype=np.int64, count=self.n_nodes)

    @property
    def edge_jaccard(self) -> np.ndarray:
        """Jaccard index ``|A & B| / |A | B|`` of the member sets of each edge's two nodes."""
        if not self.n_edges:
            return np.zeros(0, dtype=np.float64)
        sizes = self.node_sizes
        union = sizes[self.edges[:, 0]] + sizes[self.edges[:, 1]] - self.edge_intersection
        return self.edge_intersection / union

    @property
    def node_ids(self) -> list[str]:
        """KeplerMapper-style names, ``cube{cover element}_cluster{j}``, numbered within each cover element."""
        counts: dict[int, int] = {}
        ids = []
        for c in self.node_cover.tolist():
            j = counts.get(c, 0)
            counts[c] = j + 1
            ids.append(f"cube{c}_cluster{j}")
        return ids

    @property
    def unassigned(self) -> np.ndarray:
        """Indices of the samples that belong to no node (clustering noise, too-small cover elements)."""
        covered = np.zeros(self.n_samples, dtype=bool)
        if self.n_nodes:
            covered[np.concatenate(self.members)] = True
        return np.flatnonzero(~covered)

    @property
    def classes(self) -> np.ndarray:
        """The class ids the columns of :meth:`class_histograms` stand for: ``0 .. len(class_names) - 1`` when
        names are given, else the ids present among the labels (sorted)."""
        if getattr(self, "_classes_cache", None) is None:
            if self.class_names is not None:
                self._classes_cache = np.arange(len(self.class_names), dtype=np.int64)
            elif self.labels is None:
                self._classes_cache = np.zeros(0, dtype=np.int64)
            else:
                self._classes_cache = np.unique(self.labels[self.labels >= 0])
        return self._classes_cache

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def sample_index(self) -> tuple[np.ndarray, np.ndarray]:
        """The nodes of every sample as CSR arrays ``(indptr, nodes)``: sample ``s`` is in
        ``nodes[indptr[s]:indptr[s + 1]]`` (see :func:`topoact_lightning.engine.memberships.sample_index`)."""
        return sample_index(self.members, self.n_samples)

    def sample_nodes(self) -> list[list[int]]:
        """For every sample, the nodes it belongs to (a sample in an overlap belongs to several)."""
        indptr, nodes = self.sample_index()
        flat = nodes.tolist()
        return [flat[a:b] for a, b in zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)]

    # ---------------------------------------------------------------------------------------------- statistics
    def class_histograms(self) -> np.ndarray:
        """Counts of each class among each node's members, shape ``(n_nodes, n_classes)`` (columns:
        :attr:`classes`); unknown labels skipped."""
        classes = self.classes
        k = len(classes)
        if self.labels is None or k == 0 or not self.n_nodes:
            return np.zeros((self.n_nodes, k), dtype=np.int64)
        nodes, samples = self._memberships()
        labels = self.labels[samples]
        known = labels >= 0
        column = np.searchsorted(classes, labels[known])  # every known label is one of the classes
        counts = np.bincount(nodes[known] * k + column, minlength=self.n_nodes * k)
        return counts.reshape(self.n_nodes, k).astype(np.int64)

    def node_purity(self) -> np.ndarray:
        """``1 - H(p) / log K`` per node, with ``p`` the node's class distribution (1 = one class only)."""
        return metrics.purity(self.class_histograms())

    def node_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of a per-sample array over each node's members, ignoring NaN (NaN for a node with none)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim > 1:
            values = values[:, 0]
        if not self.n_nodes:
            return np.zeros(0)
        nodes, samples = self._memberships()
        v = values[samples]
        ok = ~np.isnan(v)
        total = np.bincount(nodes[ok], weights=v[ok], minlength=self.n_nodes)
        count = np.bincount(nodes[ok], minlength=self.n_nodes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan)

    def _memberships(self) -> tuple[np.ndarray, np.ndarray]:
        """``(node, sample)`` of every membership (built once; a graph is not mutated after construction)."""
        if getattr(self, "_memberships_cache", None) is None:
            self._memberships_cache = membership_pairs(self.members)
        return self._memberships_cache

    def node_stats(self) -> dict[str, np.ndarray]:
        """Per-node statistics: size, mean lens, purity, and the mean of every numeric extra (``mean_<name>``)."""
        stats: dict[str, np.ndarray] = {
            "size": self.node_sizes,
            "mean_lens": self.node_mean(self.lens),
        }
        if self.n_classes:
            stats["purity"] = self.node_purity()
        for name, v in self.extras.items():
            if name not in CATEGORICAL_EXTRAS:
                stats[f"mean_{name}"] = self.node_mean(v)
        return stats

    def metrics(self) -> dict[str, float]:
        """Summary numbers of the graph's shape (see :func:`topoact_lightning.engine.metrics.graph_metrics`)."""
        return metrics.graph_metrics(
            n_samples=self.n_samples,
            node_sizes=self.node_sizes,
            edges=self.edges,
            class_histograms=self.class_histograms() if self.n_classes else None,
            n_unassigned=len(self.unassigned),
        )

    # ------------------------------------------------------------------------------- conversions and encoding
    def to_kmapper(self) -> dict[str, Any]:
        """The graph as KeplerMapper's graph dict (see :func:`topoact_lightning.engine.export.to_kmapper`)."""
        return export.to_kmapper(self)

    def to_networkx(self):
        """The graph as a ``networkx.Graph`` (see :func:`topoact_lightning.engine.export.to_networkx`)."""
        return export.to_networkx(self)

    def to_bytes(self) -> bytes:
        """A compact, lossless, versioned encoding (see :mod:`topoact_lightning.engine.serialization`)."""
        return encode(
            n_samples=self.n_samples,
            members=self.members,
            node_cover=self.node_cover,
            cover_bounds=self.cover_bounds,
            lens=self.lens,
            labels=self.labels,
            class_names=self.class_names,
            extras=self.extras,
            params=self.params,
            edges=self.edges,
            edge_intersection=self.edge_intersection,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> MapperGraph:
        """Decode :meth:`to_bytes` output. Raises :class:`GraphFormatError` (only) on anything malformed."""
        fields = decode(data)
        try:
            return cls(**fields)
        except (ValueError, TypeError, IndexError) as e:  # what the checks in decode() did not already refuse
            raise GraphFormatError(f"corrupt Mapper graph payload: {e}") from e

    # --------------------------------------------------------------------------------------------- equality
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MapperGraph):
            return NotImplemented
        if (self.n_samples, self.n_nodes, self.class_names, self.params, sorted(self.extras)) != (
            other.n_samples,
            other.n_nodes,
            other.class_names,
            other.params,
            sorted(other.extras),
        ):
            return False
        if (self.labels is None) != (other.labels is None):
            return False
        pairs = [
            (self.node_cover, other.node_cover),
            (self.cover_bounds, other.cover_bounds),
            (self.edges, other.edges),
            (self.edge_intersection, other.edge_intersection),
            (self.lens, other.lens),
            *zip(self.members, other.members, strict=True),
            *((self.extras[k], other.extras[k]) for k in self.extras),
        ]
        if self.labels is not None:
            pairs.append((self.labels, other.labels))
        return all(
            a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f") for a, b in pairs
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"MapperGraph(n_samples={self.n_samples}, nodes={self.n_nodes}, edges={self.n_edges}, "
            f"unassigned={len(self.unassigned)})"
        )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return repr(o)
