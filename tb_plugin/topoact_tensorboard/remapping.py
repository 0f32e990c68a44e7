"""Re-mapping on the server: a logged epoch's graph built again from its stored activations with a request's Mapper
parameters, cached by (graph, parameters).

A request's parameters (:func:`arguments.mapper_args`) override those the graph was logged with
(:func:`~topoact_lightning.engine.remap.logged_mapper_params`); its labels, extras and class names are kept.
``eps=fixed`` is one eps for every epoch of a layer: the one its latest readable logged graph used (TopoAct's
"Epsilon-Fixed"). The automatic eps of a stored matrix is worked out once per matrix and the parameters it depends
on, since its neighbour queries are about half of a re-map.

Example::

    remapper = Remapper(store)
    entry = remapper.remap(ctx, experiment_id, "mnist", "fc1", epoch, (("n_intervals", 30),))
    entry.remapped, entry.graph.params["n_intervals"]  # (True, 30)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from tensorboard import errors

from topoact_lightning.engine.remap import FIXED_EPS
from topoact_tensorboard.arguments import MapperArgs
from topoact_tensorboard.cache import LRUCache
from topoact_tensorboard.entries import GraphEntry, guarded
from topoact_tensorboard.logdata import Epoch

if TYPE_CHECKING:
    from topoact_tensorboard.data import GraphStore


class Remapper:
    """Builds and caches re-mapped graphs for the routes of ``store`` (whose logged graphs and stored activations
    it reads).

    Args:
        store: the plugin's :class:`~topoact_tensorboard.data.GraphStore`.
        cache_size: re-mapped graphs kept in memory.
    """

    def __init__(self, store: GraphStore, cache_size: int = 32) -> None:
        self.store = store
        self.remapped = LRUCache(cache_size)
        #: Automatic eps values of stored matrices (:meth:`knee_eps`): floats, so many can be kept.
        self.knee_eps_values = LRUCache(1024)

    def remap(
        self, ctx, experiment_id: str, run: str, layer: str, epoch: Epoch, params: MapperArgs
    ) -> GraphEntry:
        """The logged graph of ``epoch`` built again from its stored activations, with the Mapper parameters it
        was logged with overridden by ``params`` (and its labels, extras and class names); cached by (graph key,
        ``params``). ``eps=fixed`` is the layer's :meth:`fixed_eps`, recorded in the graph's params as
        ``eps_rule="fixed"`` and ``eps_fixed_from`` (the step it comes from). 400 when the parameters do not fit
        this graph (the engine's message names the fix), 404 when there are no stored activations or the graph is
        unreadable."""
        from topoact_lightning.engine.mapper import Mapper
        from topoact_lightning.engine.remap import logged_mapper_params
        from topoact_lightning.errors import TopoActConfigError

        base = self.store.load(ctx, experiment_id, run, layer, epoch)
        given = dict(params)
        fixed_from = None
        if given.get("eps") == FIXED_EPS:
            # Missing activations are the first reason to give (the graph could not be re-mapped with any eps).
            self.store.activations(ctx, experiment_id, run, layer, epoch.step)
            # Resolved now, not cached under "fixed": a newer logged epoch may bring another number.
            given["eps"], fixed_from = self.fixed_eps(ctx, experiment_id, run, layer)
        key = (base.key, tuple(given.items()), fixed_from)  # still sorted: only eps may change

        def build() -> GraphEntry:
            x = self.store.activations(ctx, experiment_id, run, layer, epoch.step)
            g = base.graph
            if len(x) != g.n_samples:
                raise errors.NotFoundError(
                    f"the stored activations of the {base.where} hold {len(x)} samples, the graph "
                    f"{g.n_samples}: they cannot be re-mapped together"
                )
            try:
                kwargs = logged_mapper_params(g.params, **given)
                mapper = Mapper(**kwargs)
                mapper.check_params()
            except (TopoActConfigError, ValueError, TypeError) as e:
                raise errors.InvalidArgumentError(f"the {base.where} cannot be re-mapped so: {e}") from e
            resolved = self.knee_eps(base.key, x, mapper.get_params())
            if resolved is not None:
                mapper.set_params(eps=resolved[0])
            graph = guarded(
                f"the re-mapping of the {base.where}",
                lambda: mapper.fit_graph(x, labels=g.labels, extras=g.extras, class_names=g.class_names),
            )
            if resolved is not None:
                graph.params["eps_rule"] = resolved[
                    1
                ]  # the engine's rule, not "given": it was handed the eps
            if fixed_from is not None:
                graph.params.update(eps_rule=FIXED_EPS, eps_fixed_from=fixed_from)
            return GraphEntry(
                graph,
                epoch.step,
                epoch.wall_time,
                key,
                base.annotations,
                f"re-mapped {base.where}",
                remapped=True,
            )

        return self.remapped.get_or_create(key, build)

    def knee_eps(self, key: Any, x: np.ndarray, params: dict[str, Any]) -> tuple[float, str] | None:
        """The automatic eps (``eps="auto"``) of the stored matrix ``x`` of the graph ``key`` and the engine's name
        for its rule (:func:`~topoact_lightning.engine.elements.resolve_eps`), worked out once per matrix and
        values of the parameters it depends on (:data:`~topoact_lightning.engine.elements.EPS_PARAMS`): a change
        of intervals, overlap, lens or cover leaves it as it was, and the knee rule's neighbour queries are about
        half of a re-map. None when the eps is given (nothing to work out), or when an unseeded sample
        (``random_state=None``) must be drawn afresh each time."""
        if params["eps"] != "auto" or params["random_state"] is None:
            return None
        from topoact_lightning.engine.elements import EPS_PARAMS, resolve_eps

        spec = tuple(params[name] for name in EPS_PARAMS)
        return self.knee_eps_values.get_or_create((key, spec), lambda: resolve_eps(x, params))

    def fixed_eps(self, ctx, experiment_id: str, run: str, layer: str) -> tuple[float, int]:
        """``eps=fixed`` of ``layer``: the DBSCAN eps its latest readable logged graph used (the number the
        automatic rule chose, or the one given), and that graph's step. Re-mapping every epoch with it gives one eps
        for the whole layer, so the epochs' graphs compare (TopoAct's "Epsilon-Fixed"). 404 when no logged graph
        has one."""
        for e in reversed(self.store.logs.epochs(ctx, experiment_id, run, layer)):
            try:
                eps = self.store.load(ctx, experiment_id, run, layer, e).graph.params.get("eps")
            except errors.NotFoundError:
                continue
            if isinstance(eps, (int, float)) and not isinstance(eps, bool) and 0 < eps < float("inf"):
                return float(eps), e.step
        raise errors.NotFoundError(
            f"no logged graph of layer {layer!r} in run {run!r} records a DBSCAN eps to fix (eps=fixed); "
            "use a number or 'auto'"
        )

    # ------------------------------------------------------------------------------------------ thumbnails
