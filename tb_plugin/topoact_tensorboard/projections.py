"""The projection panel's data: each epoch's stored activations projected to 2-D and aligned along the epochs.

PCA (:func:`topoact_lightning.engine.projection.pca_2d`) of epoch ``e`` is Procrustes-aligned
(:func:`~topoact_lightning.engine.projection.procrustes_align`, rotation or reflection, no scale) onto the aligned
PCA of the previous epoch with stored activations, a chain starting at the first one, so the scatter neither flips
nor turns while the slider moves. The chain is computed lazily, from the latest epoch already cached, and each
link is cached. An epoch whose activations are unreadable, or hold another number of samples, breaks the chain:
the next epoch starts a new one (its ``aligned_to`` is None).

t-SNE of epoch ``e`` starts from that epoch's aligned PCA and is aligned onto it (``aligned_to`` is ``e``): the
orientation comes from the PCA chain, so a t-SNE at the last of 50 epochs does not need the 49 before it (each
one takes seconds). It is computed once per (run, layer, epoch) and cached.

Both caches are bounded LRUs (entries of ``n x 2`` float32), so the TensorBoard process's memory stays bounded.

Example::

    projections = ProjectionStore(graph_store)
    p = projections.projection(ctx, experiment_id, "mnist", "fc1", step=3, method="pca")
    p.coords.shape, p.aligned_to   # ((n_probe, 2), 2)
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
from tensorboard import errors

from topoact_lightning.engine.projection import pca_2d, procrustes_align, tsne_2d
from topoact_tensorboard.cache import LRUCache
from topoact_tensorboard.data import GraphStore
from topoact_tensorboard.entries import Unreadable, guarded
from topoact_tensorboard.logdata import Epoch

#: The projections the route offers, its ``method`` parameter.
METHODS = ("pca", "tsne")
#: t-SNE of more samples than this is refused: Barnes-Hut t-SNE of 10,000 points keeps a core busy for minutes.
MAX_TSNE_SAMPLES = 5000


@dataclass(frozen=True)
class Projection:
    """One epoch's 2-D projection: ``coords`` (``(n, 2)`` float32, aligned) and the step it was aligned onto."""

    coords: np.ndarray
    aligned_to: int | None


class ProjectionStore:
    """Aligned projections of stored activations, read through a :class:`GraphStore`; see the module docstring.

    Args:
        store: where the activations come from.
        cache_size: aligned PCA projections kept (one per epoch of a chain).
        tsne_cache_size: t-SNE projections kept.
    """

    def __init__(self, store: GraphStore, cache_size: int = 256, tsne_cache_size: int = 64) -> None:
        self.store = store
        self.aligned = LRUCache(cache_size)
        self.tsne = LRUCache(tsne_cache_size)
        # One t-SNE at a time: each takes seconds on every core, and a user sliding through epochs in t-SNE mode
        # must not start one per epoch at once in the TensorBoard process.
        self._tsne_lock = threading.Lock()

    def projection(self, ctx, experiment_id: str, run: str, layer: str, step: int, method: str) -> Projection:
        """The aligned ``method`` projection of ``layer``'s stored activations at ``step``.

        404 when the run or layer has no stored activations, the step none, or they are unreadable; 400 when
        t-SNE is asked of more than :data:`MAX_TSNE_SAMPLES` samples.
        """
        if method not in METHODS:
            raise ValueError(f"unknown projection method {method!r}")
        tag, series, k = self.store.logs.activation_step(
            ctx, experiment_id, run, layer, step, purpose="there is no projection to show"
        )
        keys = _chain_keys(experiment_id, run, tag, series[: k + 1])
        pca = self._pca_chain(ctx, experiment_id, run, layer, series, keys)
        if method == "pca":
            return pca
        return self._tsne(ctx, experiment_id, run, layer, series[k], keys[k], pca)

    def _pca_chain(
        self, ctx, experiment_id: str, run: str, layer: str, series: list[Epoch], keys: list
    ) -> Projection:
        """The aligned PCA of ``series[len(keys) - 1]``: computed forward from the latest link already cached."""
        k = len(keys) - 1
        start, prev = k, None
        while start >= 0:
            prev = self.aligned.get(keys[start])
            if prev is not None:
                break
            start -= 1
        for i in range(start + 1, k + 1):
            link = self._link(ctx, experiment_id, run, layer, series, i, prev)
            prev = self.aligned.get_or_create(keys[i], lambda link=link: link)
        if isinstance(prev, Unreadable):
            raise errors.NotFoundError(prev.message)
        return prev

    def _link(
        self, ctx, experiment_id: str, run: str, layer: str, series: list[Epoch], i: int, prev
    ) -> Projection | Unreadable:
        """Epoch ``series[i]``'s aligned PCA, given the previous link ``prev`` (None for the first epoch)."""
        e = series[i]
        try:
            x = self.store.activations(ctx, experiment_id, run, layer, e.step)
        except errors.NotFoundError as err:
            return Unreadable(str(err))
        where = f"the projection of layer {layer!r} at epoch {e.step} in run {run!r}"
        try:
            raw = guarded(where, lambda: pca_2d(x))
        except errors.NotFoundError as err:
            return Unreadable(str(err))
        if isinstance(prev, Projection) and prev.coords.shape == raw.shape:
            return Projection(procrustes_align(raw, prev.coords).astype(np.float32), series[i - 1].step)
        return Projection(raw.astype(np.float32), None)

    def _tsne(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: Epoch, key, pca: Projection
    ) -> Projection:
        n = len(pca.coords)
        if n > MAX_TSNE_SAMPLES:
            raise errors.InvalidArgumentError(
                f"t-SNE of {n} samples would keep the server busy for minutes (at most {MAX_TSNE_SAMPLES}); "
                "use method=pca"
            )
        if n < 5:
            raise errors.InvalidArgumentError(
                f"t-SNE needs at least 5 samples, this probe has {n}; use method=pca"
            )

        def run_tsne() -> Projection:
            x = self.store.activations(ctx, experiment_id, run, layer, epoch.step)
            where = f"the t-SNE of layer {layer!r} at epoch {epoch.step} in run {run!r}"
            start = pca.coords.astype(np.float64)
            coords = guarded(where, lambda: procrustes_align(tsne_2d(x, init=start), start))
            return Projection(coords.astype(np.float32), epoch.step)

        done = self.tsne.get(key)
        if done is not None:
            return done
        # Stored before the lock is released: a request that waited for this one finds the result in the cache.
        with self._tsne_lock:
            return self.tsne.get_or_create(key, run_tsne)


def _chain_keys(experiment_id: str, run: str, tag: str, series: list[Epoch]) -> list[tuple]:
    """Cache keys of each epoch's aligned projection. An aligned projection depends on every epoch before it, so
    each key holds the epoch's step and wall time (a rewritten step has a new wall time) and a digest of the
    previous key: it names the whole chain in constant size, and the keys of ``k`` epochs cost ``O(k)``."""
    keys: list[tuple] = []
    previous = b""
    for e in series:
        key = (experiment_id, run, tag, e.step, e.wall_time, previous)
        keys.append(key)
        previous = hashlib.blake2b(repr(key).encode(), digest_size=16).digest()
    return keys
