"""``TopoActMonitor``: a Lightning callback that logs Mapper graphs of chosen layers while a model trains.

At each logged epoch the callback runs one forward pass over a fixed probe set
(:mod:`~topoact_lightning.monitor.probe_pass`), keeps one small activation vector per sample and layer, and hands
them to the graph worker (:mod:`~topoact_lightning.monitor.worker`; by default a child Python process), which
builds the Mapper graphs, their metrics and health diagnostics. The training thread writes finished graphs and
their scalars through the sink (:mod:`~topoact_lightning.monitor.sink`). The callback itself only wires these to
Lightning's hooks; its settings live in :class:`~topoact_lightning.monitor.config.MonitorConfig`.

Step convention: the step of a graph is the number of training epochs completed when it was taken; step 0 is the
untrained network, taken when fitting starts. The last epoch is always logged.

Example:
    >>> import torch
    >>> from topoact_lightning import TopoActMonitor
    >>> x, y = torch.randn(300, 64), torch.randint(0, 10, (300,))
    >>> monitor = TopoActMonitor(layers=["fc1"], probe=(x, y))
    >>> monitor.schedule.describe()
    'every epoch, the untrained network and the last epoch'

The class derives from ``pytorch_lightning.Callback`` and works with ``lightning.pytorch`` Trainers as well
(callbacks are not type-checked): everything else Lightning-specific is reached through the trainer, and warnings
go through ``lightning_utilities``, shared by both namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from lightning_utilities.core.rank_zero import rank_zero_warn
from pytorch_lightning import Callback
from torch import nn
from typing_extensions import override

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.config import MonitorConfig
from topoact_lightning.monitor.findings import Finding, FindingThresholds
from topoact_lightning.monitor.pipeline import GraphPipeline, JobSettings, mark_done
from topoact_lightning.monitor.probe import Probe, thumbnails
from topoact_lightning.monitor.probe_pass import ProbePass
from topoact_lightning.monitor.schedule import Schedule
from topoact_lightning.monitor.sink import SummarySink
from topoact_lightning.monitor.state import LoggedGraphs, MonitorState, resume_from_logs


class TopoActMonitor(Callback):
    r"""Log Mapper graphs (TopoAct) of chosen layers' activations on a fixed probe set during training.

    Args:
        layers: module names as in ``model.named_modules()`` (``torch.compile``'s ``_orig_mod.`` may be left out).
            Default: the last two ``Linear``/``Conv`` modules before the output layer (the last one), in
            registration order.
        probe: the fixed samples: a tensor of inputs, a pair ``(inputs, labels)``, a ``Dataset``, a
            ``DataLoader`` (iterated once), or an int ``n`` to draw ``n`` samples (seeded) from the validation
            data. Labels are optional; with labels and class logits, each sample's ``prediction``, ``correct``
            and ``loss`` are stored with the graph.
        class_names: a name per class index (default: the dataset's ``classes`` if any).
        schedule: ``n`` (every ``n`` epochs), a list of epoch counts, or ``"log"`` (1, 2, 4, 8, ...). The last
            epoch is always logged.
        log_untrained: also log the untrained network as step 0.
        reduction: how a layer's output becomes one vector per sample (see :mod:`topoact_lightning.monitor.capture`):
            ``"auto"``, ``"random_position"``, ``"mean"``, ``"max"``, ``"first_token"``, ``"mean_tokens"``,
            ``"random_token"``, ``"flatten"`` or a callable; one for all layers or ``{layer: reduction}``.
        select: which tensor of a tuple/dict output to use (index, key or callable); ``None`` takes the first.
            One for all layers or ``{layer: selector}``.
        token_mask: real (non-padding) tokens of sequence inputs: an int padding id, a callable
            ``f(inputs) -> (batch, length)`` bool tensor, or a ``(n_probe, length)`` tensor. Default: the
            ``attention_mask`` entry of dict inputs, else every token is real.
        mapper_params: :class:`~topoact_lightning.Mapper` parameters for all layers, or ``{layer: {...}}``.
            Checked here, so impossible values fail before training.
        forward: ``f(module, inputs)`` running the model on a probe batch; default ``module(inputs)``.
        logits: where the class logits are in the model output: ``"auto"`` (a ``(batch, classes)`` tensor, the
            first element of a tuple, or the ``logits`` entry of a dict), a callable, or ``None`` for none.
        thumbnails: log small images of the probe once, when the inputs are images ``(N, 1 or 3, H, W)``.
        probe_batch_size: batch size of the probe pass; default 64 when the model is on the CPU (small batches keep
            activations in cache, see BENCHMARKS.md), 256 on an accelerator.
        seed: seed of the probe draw and the random positions/tokens (fixed for the whole run).
        max_pending: logged steps (one graph per layer each) that may wait to be built before the training loop
            waits for the worker; a step's graphs are always queued together, so the loop never waits inside one.
        dead_threshold: report a layer as ``dead`` when at least this share of its units never fires
            (``FindingThresholds.dead_share``).
        collapse_dims: report a layer as ``collapsed`` when its probe activations use fewer effective directions
            than this (``FindingThresholds.collapse_dims``).
        findings: every threshold of the findings (:class:`~topoact_lightning.monitor.findings.FindingThresholds`;
            its defaults are listed in the README's "Findings" section). Replaces ``dead_threshold`` and
            ``collapse_dims``; give one or the other.
        worker_niceness: how much to lower the graph worker's CPU priority (Linux), so training wins when
            cores are busy; 0 keeps it equal.
        worker: ``"process"`` builds graphs in a child Python process (a fresh interpreter, not multiprocessing),
            so the engine never holds the training loop's GIL; ``"thread"`` in a background thread of the
            training process (no extra interpreter, but it competes for the GIL). Their cost is measured in
            BENCHMARKS.md. If the child cannot start or dies, the callback falls back to a thread and warns.
            Either way the engine runs on one core unless ``mapper_params`` sets ``n_jobs``.
        scalar_step: where the ``topoact/<layer>/<metric>`` scalars go on the loggers' step axis:
            ``"global_step"`` (default) puts them at the training step where Lightning logs the same epoch's
            metrics (``val_acc``, ...), so the Scalars tab shows both on one axis; ``"epoch"`` at the number of
            epochs completed, as graphs are (the TopoAct tab always shows epochs). :attr:`scalar_steps` maps one
            to the other.
        max_unwritten: graphs kept in memory while writing them fails (a full disk); older ones are dropped.
        state_key: this monitor's key in checkpoints. Give each monitor its own when one Trainer has several
            (for example ``TopoActMonitor(layers=["fc1"], state_key="fc")`` and another with ``state_key="conv"``);
            by default the key is derived from ``layers``, so monitors with different layers differ already.
        store_activations: also log each layer's probe activation matrix (after reduction) with its graph, as
            ``topoact_activations/<layer>``, so that :class:`~topoact_lightning.LogReader` and the TensorBoard tab
            can re-map any logged epoch with other parameters. ``True`` stores it when its compressed size is at
            most 16 MiB per layer and step, an int is that budget in bytes, ``False`` stores nothing. Values are
            kept as float16 scaled per row (error at most 0.05% of the row's largest value); compression runs in
            the graph process. A matrix over the budget is not stored (its graph still is; a warning says so once
            per layer).

    Logged:
        To every TensorBoard logger, as blob-sequence summaries (:mod:`topoact_lightning.logformat.summary`), at
        step = epochs completed (0 = the untrained network):

        - ``topoact_graph/<layer>``: per logged step, blob 0 the Mapper graph (:meth:`MapperGraph.to_bytes`), blob 1
          the annotations ``{"diagnostics": {"dead_units", "effective_rank", "distance"}, "problem", "findings"}``
          (``findings``: the findings reported for the layer at that step, each a :meth:`Finding.to_dict` plus
          ``"fault"``; fault kinds appear once per layer, at the step first found; ``problem``: the fault
          findings' messages joined, or null); the tag metadata carries the layer and its ``position``.
        - ``topoact_findings/<layer>``: a text summary (TensorBoard's Text tab) at each step with new findings, a
          table of step, layer, kind and message (:func:`~topoact_lightning.monitor.findings.findings_markdown`).
        - ``topoact_activations/<layer>``: with each graph, unless ``store_activations`` forbids it, the probe
          activation matrix it was built from (float16 scaled per row,
          :func:`topoact_lightning.logformat.summary.encode_activations`).
        - ``topoact_thumbnails``: once, at step 0, small images of the probe (image inputs only).

        To every logger, as scalars at the step chosen by ``scalar_step``, per layer:

        - ``topoact/<layer>/nodes``, ``edges``, ``components``, ``loops``: the graph's size and shape.
        - ``topoact/<layer>/purity``: mean share of a node's majority class (with labels).
        - ``topoact/<layer>/coverage``: share of probe samples in some node.
        - ``topoact/<layer>/largest_node_share``: share of samples in the largest node.
        - ``topoact/<layer>/dead_units``: share of units constant over the probe (a ReLU that never fires).
        - ``topoact/<layer>/effective_rank``: effective rank of the centred activations, in (0, 1] (collapse near 0).
        - ``topoact/<layer>/distance``: how far the graph moved since the previous logged step (from the second).

        Non-finite values (a purity without labels, the first distance) are not logged.

    Findings:
        At each logged step the graph process reads each layer's activations and graph for faults (``dead``,
        ``constant``, ``collapsed``, ``saturated``, ``not_learning``, ``exploding``: one ``rank_zero_warn`` per
        layer and kind, naming layer, epoch, what was found and the usual fix) and class findings
        (``confusion``, ``separation``, ``suspect_labels``: informational). :attr:`findings` lists them all; they
        are checkpointed, so a resumed fit repeats none.

    Guarantees:
        Training never dies for monitoring: a failing probe pass, NaN activations or a failing graph become a
        warning and a skipped graph; an ``OSError`` while writing (a full disk) becomes one warning, the graphs
        wait in memory (``max_unwritten``) and are written when writing works again. A step counts as done only
        once its graphs are written, so a resumed fit logs every step exactly once (see the README).

    Raises:
        TopoActConfigError: for parameters that cannot work (here), and for layers or probes that do not fit
            the model (when fitting starts, before the first training step).
    """

    def __init__(
        self,
        *,
        layers: Sequence[str] | None = None,
        probe: Any = 1000,
        class_names: Sequence[str] | None = None,
        schedule: int | str | Sequence[int] = 1,
        log_untrained: bool = True,
        reduction: Any = "auto",
        select: Any = None,
        token_mask: Any = None,
        mapper_params: Mapping[str, Any] | None = None,
        forward: Callable[[nn.Module, Any], Any] | None = None,
        logits: str | Callable[[Any], torch.Tensor] | None = "auto",
        thumbnails: bool = True,
        probe_batch_size: int | None = None,
        seed: int = 0,
        max_pending: int = 2,
        dead_threshold: float = 0.5,
        collapse_dims: float = 1.5,
        findings: FindingThresholds | None = None,
        worker_niceness: int = 10,
        worker: str = "process",
        scalar_step: str = "global_step",
        max_unwritten: int = 16,
        state_key: str | None = None,
        store_activations: bool | int = True,
    ) -> None:
        super().__init__()
        self.config = MonitorConfig(
            layers=[layers] if isinstance(layers, str) else (list(layers) if layers is not None else None),
            probe=probe,
            class_names=list(class_names) if class_names is not None else None,
            schedule=Schedule.from_spec(schedule, untrained=log_untrained),
            reduction=reduction,
            select=select,
            token_mask=token_mask,
            mapper_params=dict(mapper_params)
            if isinstance(mapper_params, Mapping)
            else (mapper_params or {}),
            forward=forward,
            logits=logits,
            thumbnails=thumbnails,
            probe_batch_size=probe_batch_size,
            seed=seed,
            max_pending=max_pending,
            dead_threshold=dead_threshold,
            collapse_dims=collapse_dims,
            findings=findings,
            worker_niceness=worker_niceness,
            worker=worker,
            scalar_step=scalar_step,
            max_unwritten=max_unwritten,
            state_key=state_key,
            store_activations=store_activations,
        )
        self.__init_run_state()
        self.__init_runtime()
        self.config.validate()

    def __init_run_state(self) -> None:
        """What a checkpoint keeps (see :mod:`~topoact_lightning.monitor.state`) and what a fit measured."""
        self._state = MonitorState()
        #: Logged step (epochs completed) -> the logger step its ``topoact/*`` scalars were written at.
        self.scalar_steps: dict[int, int] = {}
        self.blocking_seconds: list[float] = []
        self.build_seconds: list[float] = []

    def __init_runtime(self) -> None:
        """What one fit builds in ``on_fit_start`` and drops in ``teardown``."""
        self.layers_: list[str] = list(self.config.layers or [])
        self.probe_: Probe | None = None
        self._pass: ProbePass | None = None
        self._pipeline: GraphPipeline | None = None
        self._logged: LoggedGraphs | None = None
        self._active = False
        self._last_epoch_step: int | None = None
        self._trainer: Any = None

    @property
    def schedule(self) -> Schedule:
        return self.config.schedule

    @property
    def captured_steps(self) -> list[int]:
        """The logged steps that are done: every graph written, or skipped with a warning."""
        return self._state.captured_steps

    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, in the order reported (written graphs' and skipped ones'; kept in checkpoints).

        Fault findings (``finding.is_fault``) appear once per layer and kind; ``finding.fix`` is the usual fix.
        """
        return [Finding.from_dict(d) for d in self._state.findings]

    @property
    def pending_graphs(self) -> int:
        """Graphs handed to the worker and not built yet."""
        return self._pipeline.pending if self._pipeline is not None else 0

    @property
    @override
    def state_key(self) -> str:
        if self.config.state_key is not None:
            return self._generate_state_key(state_key=self.config.state_key)
        return self._generate_state_key(layers=tuple(self.config.layers) if self.config.layers else None)

    # ------------------------------------------------------------------------------------------ lightning hooks
    @override
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        self.__init_runtime()
        if int(trainer.current_epoch) == 0:
            # A fresh fit with a reused callback starts a new schedule; a resumed one gets its state from the
            # checkpoint after this hook, and a second fit() on the same trainer continues the old one.
            self.__init_run_state()

    @override
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        # Layers, settings and probe first: what does not fit the model fails before anything else runs.
        self._trainer = trainer
        self._resolve(trainer, pl_module)
        loggers = [lg for lg in trainer.loggers if type(lg).__name__ != "DummyLogger"]
        self._active = bool(loggers) and not getattr(trainer, "fast_dev_run", False)

    @override
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # Here, not in on_fit_start: a resumed fit has its epoch count back only now.
        start = int(trainer.current_epoch)
        if trainer.is_global_zero:
            self._start_outputs(trainer, self.layers_, start)
        # The step the weights are at: the untrained network, or on resume the checkpoint's epoch count (whose
        # graphs a crash right after the save kept from the logs). Otherwise a check on one batch, so that layers,
        # probe and reductions that do not fit the model fail before the first training step.
        missing = trainer.strategy.broadcast(
            self._missing_layers(start) if trainer.is_global_zero else [], src=0
        )
        if self._active and missing and self.schedule.is_due(start):
            self._capture(trainer, pl_module, step=start, strict=True, only=missing)
        else:
            self._capture(trainer, pl_module, step=None, strict=True)
        sink = self._pipeline.sink if self._pipeline is not None else None
        if (
            sink is not None
            and sink.writers
            and self.config.thumbnails
            and not self._state.thumbnails_written
        ):
            images = thumbnails(self.probe_) if self.probe_ is not None else None
            if images is not None:
                self._state.thumbnails_written = sink.write_thumbnails(images)

    @override
    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._pipeline is not None:
            self._pipeline.collect(retry=False)  # a full disk is retried once per epoch, not per batch

    @override
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        step = int(trainer.current_epoch) + 1
        self._last_epoch_step = step
        if self._active and not self._taken(step) and self.schedule.is_due(step):
            self._capture(trainer, pl_module, step=step)
        if self._pipeline is not None:
            self._pipeline.collect()

    @override
    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        step = self._last_epoch_step
        if self._active and step is not None and not self._taken(step):
            self._capture(trainer, pl_module, step=step)  # the last epoch is always logged
        self._finish(trainer)

    @override
    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._finish(trainer)

    @override
    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._finish(trainer, timeout=60.0)

    @override
    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            self._finish(trainer, timeout=60.0)
            self._trainer = None

    @override
    def state_dict(self) -> dict[str, Any]:
        if self._pipeline is not None and self._trainer is not None:
            # A resumed fit can take again only the step its weights are at: anything older must be written now.
            self._pipeline.settle(up_to=int(self._trainer.current_epoch))
        return self._state.to_dict()

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._state = MonitorState.from_dict(state_dict)

    # ------------------------------------------------------------------------------------------ one fit
    def _resolve(self, trainer: Any, pl_module: nn.Module) -> None:
        self._pass = ProbePass.for_fit(self.config, trainer, pl_module)
        self.probe_ = self._pass.probe
        self.layers_ = list(self._pass.layers)

    def _start_outputs(self, trainer: Any, layers: list[str], epoch: int) -> None:
        """The sink and the graph worker (rank 0), after the logs of a resumed run were read."""
        if not self._active:
            rank_zero_warn(
                "TopoActMonitor: this Trainer has no logger (fast_dev_run replaces them with a dummy), so no "
                "Mapper graphs will be built; use a TensorBoardLogger to see them."
            )
            return
        sink = SummarySink.for_trainer(trainer, self.config.max_unwritten)
        if not sink.writers:
            rank_zero_warn(
                "TopoActMonitor: no TensorBoard logger among trainer.loggers, so the Mapper graphs will not be "
                "written (only their metrics); add lightning.pytorch.loggers.TensorBoardLogger to the Trainer."
            )
        elif epoch > 0:
            self._logged = resume_from_logs(self._state, sink.writers[0].log_dir, layers, epoch)
        cfg = self.config
        self._pipeline = GraphPipeline(
            self._state,
            sink,
            layers,
            worker=cfg.worker,
            niceness=cfg.worker_niceness,
            max_pending=cfg.max_pending,
        )
        self._pipeline.build_seconds = self.build_seconds

    def _missing_layers(self, step: int) -> list[str]:
        if not self._active or self._taken(step):
            return []
        if self._logged is None or step == 0:
            return list(self.layers_)
        return [layer for layer in self.layers_ if not self._logged.has(layer, step)]

    def _taken(self, step: int) -> bool:
        return step in self._state.captured_steps or (
            self._pipeline is not None and step in self._pipeline.open
        )

    def _capture(
        self,
        trainer: Any,
        pl_module: nn.Module,
        step: int | None,
        strict: bool = False,
        only: list[str] | None = None,
    ) -> None:
        """One probe pass (all ranks), gathered on rank 0 and queued for the graph worker.

        ``step=None`` is a check on the first probe batch only. With ``strict``, problems raise
        :class:`TopoActConfigError` (before training); otherwise they become a warning and skipped graphs.
        """
        assert self._pass is not None
        t0 = time.perf_counter()
        result = self._pass.run(trainer, pl_module, check_only=step is None)
        if not result.ok:
            msg = result.problem(step)
            if strict:
                raise TopoActConfigError(msg)
            rank_zero_warn(msg + "; graphs for this step are skipped")
            if step is not None:
                mark_done(self._state, self._pipeline.open if self._pipeline is not None else {}, step)
            return
        if step is None:
            return
        scalar_step = logger_step(trainer, step, self.config.scalar_step)
        self.scalar_steps[step] = scalar_step
        if self._pipeline is None:
            mark_done(
                self._state, {}, step
            )  # other ranks keep the same steps as taken, so that all decide alike
            return
        probe = self.probe_
        assert probe is not None
        layers = only or self.layers_
        self._pipeline.submit(
            step,
            scalar_step,
            {layer: result.activations[layer] for layer in layers},
            result.extras,
            {layer: self._pass.layers[layer].mapper_params for layer in layers},
            JobSettings(
                probe.labels,
                probe.class_names,
                self.config.finding_thresholds(),
                reported_loss(trainer),
                self.config.activation_budget,
            ),
        )
        self.blocking_seconds.append(time.perf_counter() - t0)

    def _finish(self, trainer: Any, timeout: float | None = None) -> None:
        """Wait for pending graphs, write them, and stop the worker (rank 0)."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.close(timeout)


def reported_loss(trainer: Any) -> float | None:
    """The training loss the trainer reported (``callback_metrics``' ``train_loss`` or ``loss``), or None; the graph
    process prefers the probe's own mean loss (:func:`~topoact_lightning.monitor.building.step_loss`)."""
    metrics = getattr(trainer, "callback_metrics", None) or {}
    for key in ("train_loss", "loss"):
        value = metrics.get(key)
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            return value
    return None


def logger_step(trainer: Any, step: int, mode: str) -> int:
    """The step the ``topoact/*`` scalars of ``step`` go to.

    With ``mode="global_step"``, the step at which Lightning logs the metrics of the epoch just ended (its
    epoch-end metrics go to the last training step of the epoch, one below the count of optimizer steps taken), so
    that ``topoact/*`` and ``val_acc`` share the Scalars tab's x-axis; 0 for the untrained network.
    """
    if mode == "epoch" or step == 0:
        return step
    loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    stepped = getattr(loop, "_batches_that_stepped", None)
    if not isinstance(stepped, int):
        stepped = int(getattr(trainer, "global_step", step))
    return max(stepped - 1, 0)
