"""``TopoActMonitor``: a Lightning callback that logs Mapper graphs of chosen layers while a model trains.

At each logged epoch the callback runs one forward pass over a fixed probe set (eval mode, no gradients, the
trainer's precision), keeps one small activation vector per sample and layer, and hands them to a background
thread that builds the Mapper graphs, their metrics and health diagnostics. The training thread writes finished
graphs to every TensorBoard logger (one summary per layer and step) and the metrics to every logger as
``topoact/<layer>/<metric>`` scalars.

Step convention: the step of a graph is the number of training epochs completed when it was taken; step 0 is the
untrained network, taken when fitting starts. The last epoch is always logged.

Example:
    >>> import torch
    >>> from topoact_lightning import TopoActMonitor
    >>> x, y = torch.randn(300, 64), torch.randint(0, 10, (300,))
    >>> monitor = TopoActMonitor(layers=["fc1"], probe=(x, y))
    >>> monitor.schedule.describe()
    'every epoch, the untrained network and the last epoch'

Works with ``lightning.pytorch`` and ``pytorch_lightning`` Trainers alike (neither is imported at module level;
everything Lightning-specific is reached through the trainer).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from lightning_utilities.core.rank_zero import rank_zero_info, rank_zero_warn
from pytorch_lightning import Callback
from torch import nn

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import (
    ActivationCapture,
    BatchContext,
    CaptureError,
    check_reduction,
    closest_names,
    default_layers,
    module_index,
)
from topoact_lightning.monitor.probe import Probe, build_probe, default_batch_size, thumbnails
from topoact_lightning.monitor.schedule import Schedule
from topoact_lightning.monitor.worker import GraphBuilder, GraphJob, GraphProcess, GraphResult, GraphWorker

STATE_VERSION = 1


def _mapper_class():
    from topoact_lightning.engine.mapper import Mapper

    return Mapper


def _check_mapper_params(params: Mapping[str, Any], where: str) -> None:
    mapper_cls = _mapper_class()
    try:
        mapper = mapper_cls(**dict(params))
    except TypeError as e:
        names = [p for p in inspect.signature(mapper_cls).parameters if p != "self"]
        raise TopoActConfigError(f"{where}: {e}; Mapper accepts {', '.join(names)}") from None
    mapper.check_params()


def _per_layer(value: Any, layers: Sequence[str] | None, name: str) -> tuple[Any, dict[str, Any]]:
    """Split a parameter given for all layers or as ``{layer: value}`` into (default, per-layer overrides)."""
    if isinstance(value, Mapping) and value and layers is not None and all(k in layers for k in value):
        return None, dict(value)
    if isinstance(value, Mapping) and name != "mapper_params":
        if layers is not None:
            unknown = [k for k in value if k not in layers]
            raise TopoActConfigError(
                f"{name} names layers {unknown} that are not in layers={list(layers)}; give one value for all "
                "layers or a dict {layer: value} over the watched layers"
            )
        return None, dict(value)
    return value, {}


def _is_per_layer_mapper_params(params: Mapping[str, Any], layers: Sequence[str] | None) -> bool:
    if not params:
        return False
    if layers is not None and all(k in layers for k in params):
        return True
    return layers is None and all(isinstance(v, Mapping) for v in params.values())


def _finite(scalars: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in scalars.items() if v is not None and np.isfinite(v)}


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
            activations in cache: 1.5x faster than 256 on the benchmark CNN), 256 on an accelerator.
        seed: seed of the probe draw and the random positions/tokens (fixed for the whole run).
        max_pending: logged steps (one graph per layer each) that may wait to be built before the training loop
            waits for the worker; a step's graphs are always queued together, so the loop never waits inside one.
        dead_threshold: warn when at least this share of a layer's units is dead.
        collapse_dims: warn when a layer's probe activations use fewer effective directions than this.
        worker_niceness: how much to lower the graph worker's CPU priority (Linux), so training wins when
            cores are busy; 0 keeps it equal.
        worker: ``"process"`` builds graphs in a child Python process (a fresh interpreter, not multiprocessing),
            so the engine never holds the training loop's GIL; ``"thread"`` in a background thread of the
            training process (no extra interpreter, but it competes for the GIL). On the 2-core reference the
            process cost 1.029-1.043x wall time (BENCHMARKS.md); the thread, when last measured, cost about
            the same. If the child cannot start or dies, the callback falls back to a thread and warns. Either
            way the engine runs on one core unless ``mapper_params`` sets ``n_jobs``.

        scalar_step: where the ``topoact/<layer>/<metric>`` scalars go on the loggers' step axis:
            ``"global_step"`` (default) puts them at the training step where Lightning logs the same epoch's
            metrics (``val_acc``, ...), so the Scalars tab shows both on one axis; ``"epoch"`` at the number of
            epochs completed, as graphs are (the TopoAct tab always shows epochs). :attr:`scalar_steps` maps one
            to the other.

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
        worker_niceness: int = 10,
        worker: str = "process",
        scalar_step: str = "global_step",
    ) -> None:
        super().__init__()
        if isinstance(layers, str):
            layers = [layers]
        if layers is not None:
            layers = list(layers)
            if not layers or not all(isinstance(n, str) and n for n in layers):
                raise TopoActConfigError(
                    "layers must be a non-empty list of module names, or None for the default"
                )
            if len(set(layers)) != len(layers):
                raise TopoActConfigError(f"layers has duplicates: {layers}")
        self.layers = layers
        self.probe = probe
        self.class_names = list(class_names) if class_names is not None else None
        self.schedule = Schedule.from_spec(schedule, untrained=log_untrained)
        self.log_untrained = log_untrained
        self.reduction = reduction
        self.select = select
        self.token_mask = token_mask
        self.mapper_params = dict(mapper_params or {})
        self.forward = forward
        self.logits = logits
        self.thumbnails = thumbnails
        self.probe_batch_size = probe_batch_size
        self.seed = seed
        self.max_pending = max_pending
        self.dead_threshold = dead_threshold
        self.collapse_dims = collapse_dims
        self.worker_niceness = worker_niceness
        self.worker = worker
        self.scalar_step = scalar_step
        self._validate()

        # Run state (checkpointed).
        self.captured_steps: list[int] = []
        #: Logged step (epochs completed) -> the logger step its ``topoact/*`` scalars were written at.
        self.scalar_steps: dict[int, int] = {}
        self._thumbnails_written = False
        self._warned_layers: set[str] = set()
        self._restored_previous: dict[str, tuple[int, bytes]] = {}
        # Per-fit runtime.
        self.blocking_seconds: list[float] = []
        self.build_seconds: list[float] = []
        self._reset_runtime()

    # ------------------------------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if self.probe is None:
            raise TopoActConfigError(
                "probe is required: (inputs, labels), inputs, a Dataset, a DataLoader or an int"
            )
        if isinstance(self.probe, bool) or (isinstance(self.probe, int) and self.probe < 2):
            raise TopoActConfigError(
                f"probe={self.probe!r}: give the number of samples to draw, e.g. probe=1000"
            )
        if self.probe_batch_size is not None and (
            not isinstance(self.probe_batch_size, int)
            or isinstance(self.probe_batch_size, bool)
            or self.probe_batch_size < 1
        ):
            raise TopoActConfigError("probe_batch_size must be a positive int, or None for the default")
        if self.scalar_step not in ("global_step", "epoch"):
            raise TopoActConfigError(
                'scalar_step must be "global_step" (line up with Lightning\'s own metrics in the Scalars tab) or '
                '"epoch" (the number of epochs completed, as in the TopoAct tab)'
            )
        if self.worker not in ("process", "thread"):
            raise TopoActConfigError('worker must be "process" (a child Python process) or "thread"')
        if not isinstance(self.max_pending, int) or self.max_pending < 1:
            raise TopoActConfigError("max_pending must be a positive int")
        if not 0 < float(self.dead_threshold) <= 1:
            raise TopoActConfigError("dead_threshold must be in (0, 1]")
        if self.logits is not None and self.logits != "auto" and not callable(self.logits):
            raise TopoActConfigError(
                'logits must be "auto", None or a callable f(output) -> (batch, classes)'
            )
        if self.forward is not None and not callable(self.forward):
            raise TopoActConfigError("forward must be a callable f(module, inputs)")
        if self.token_mask is not None and not (
            callable(self.token_mask)
            or isinstance(self.token_mask, torch.Tensor)
            or (isinstance(self.token_mask, int) and not isinstance(self.token_mask, bool))
        ):
            raise TopoActConfigError(
                "token_mask must be a padding id, a callable or a (n_probe, length) tensor"
            )
        default, per_layer = _per_layer(self.reduction, self.layers, "reduction")
        for layer, r in per_layer.items():
            check_reduction(r, f"reduction[{layer!r}]")
        if default is not None:
            check_reduction(default, "reduction")
        _per_layer(self.select, self.layers, "select")
        if not isinstance(self.mapper_params, Mapping):
            raise TopoActConfigError("mapper_params must be a dict of Mapper parameters, or {layer: {...}}")
        if _is_per_layer_mapper_params(self.mapper_params, self.layers):
            for layer, params in self.mapper_params.items():
                if not isinstance(params, Mapping):
                    raise TopoActConfigError(f"mapper_params[{layer!r}] must be a dict of Mapper parameters")
                _check_mapper_params(params, f"mapper_params[{layer!r}]")
        else:
            _check_mapper_params(self.mapper_params, "mapper_params")

    def _params_for(self, layer: str) -> dict[str, Any]:
        if _is_per_layer_mapper_params(self.mapper_params, self.layers_):
            return dict(self.mapper_params.get(layer, {}))
        return dict(self.mapper_params)

    def _for_layer(self, value: Any, layer: str, name: str, fallback: Any) -> Any:
        default, per_layer = _per_layer(value, self.layers_, name)
        if per_layer:
            return per_layer.get(layer, fallback)
        return fallback if default is None else default

    @property
    def state_key(self) -> str:
        return self._generate_state_key(layers=tuple(self.layers) if self.layers else None)

    def _reset_runtime(self) -> None:
        self.layers_: list[str] = list(self.layers or [])
        self.probe_: Probe | None = None
        self._modules: dict[str, nn.Module] = {}
        self._worker: GraphWorker | None = None
        self._builder: GraphBuilder | GraphProcess | None = None
        self._writers: list[Any] = []
        self._active = False
        self._last_epoch_step: int | None = None
        self._trainer: Any = None

    # ------------------------------------------------------------------------------------------ lightning hooks
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        self._reset_runtime()
        if int(trainer.current_epoch) == 0:
            # A fresh fit with a reused callback starts a new schedule; a resumed one gets its state from the
            # checkpoint after this hook, and a second fit() on the same trainer continues the old one.
            self.captured_steps = []
            self.scalar_steps = {}
            self._thumbnails_written = False
            self._warned_layers = set()
            self._restored_previous = {}

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._trainer = trainer
        self._resolve_layers(pl_module)
        for layer in self.layers_:
            _check_mapper_params(self._params_for(layer), f"mapper_params for layer {layer!r}")
        self.probe_ = build_probe(
            self.probe,
            batch_size=self.probe_batch_size or default_batch_size(pl_module.device),
            seed=self.seed,
            trainer=trainer,
            class_names=self.class_names,
        )
        if isinstance(self.token_mask, torch.Tensor) and self.token_mask.shape[0] != self.probe_.n:
            raise TopoActConfigError(
                f"token_mask has {self.token_mask.shape[0]} rows but the probe has {self.probe_.n} samples"
            )
        loggers = [lg for lg in trainer.loggers if type(lg).__name__ != "DummyLogger"]
        self._active = bool(loggers) and not getattr(trainer, "fast_dev_run", False)
        if trainer.is_global_zero:
            self._writers = (
                [lg.experiment for lg in loggers if _is_summary_writer(lg)] if self._active else []
            )
            if not self._active:
                rank_zero_warn(
                    "TopoActMonitor: this Trainer has no logger (fast_dev_run replaces them with a dummy), so no "
                    "Mapper graphs will be built; use a TensorBoardLogger to see them."
                )
            elif not self._writers:
                rank_zero_warn(
                    "TopoActMonitor: no TensorBoard logger among trainer.loggers, so the Mapper graphs will not be "
                    "written (only their metrics); add lightning.pytorch.loggers.TensorBoardLogger to the Trainer."
                )
            if self._active:
                if self.worker == "process":
                    self._builder = GraphProcess(self.worker_niceness, restore=self._restored_previous)
                else:
                    self._builder = GraphBuilder()
                    self._builder.restore(self._restored_previous)
                self._worker = GraphWorker(
                    self._builder,
                    maxsize=self.max_pending * len(self.layers_),
                    niceness=self.worker_niceness,
                )
        # The untrained network, or (when it is not logged or already was, on resume) a check on one batch, so
        # that layers, probe and reductions that do not fit the model fail before the first training step.
        if self._active and 0 not in self.captured_steps and self.schedule.is_due(0):
            self._capture(trainer, pl_module, step=0, strict=True)
        else:
            self._capture(trainer, pl_module, step=None, strict=True)
        if self._writers and self.thumbnails and not self._thumbnails_written:
            self._write_thumbnails()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._worker is not None:
            self._write_results(trainer, self._worker.poll())

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        step = int(trainer.current_epoch) + 1
        self._last_epoch_step = step
        if self._active and step not in self.captured_steps and self.schedule.is_due(step):
            self._capture(trainer, pl_module, step=step)
        if self._worker is not None:
            self._write_results(trainer, self._worker.poll())

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        step = self._last_epoch_step
        if self._active and step is not None and step not in self.captured_steps:
            self._capture(trainer, pl_module, step=step)  # the last epoch is always logged
        self._finish(trainer)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._finish(trainer)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._finish(trainer, timeout=60.0)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            self._finish(trainer, timeout=60.0)
            self._trainer = None

    def state_dict(self) -> dict[str, Any]:
        previous = (
            self._builder.previous_bytes() if self._builder is not None else dict(self._restored_previous)
        )
        steps = set(self.captured_steps)
        pending = self._step_about_to_be_captured()
        if pending is not None:
            steps.add(pending)
        return {
            "version": STATE_VERSION,
            "captured_steps": [int(s) for s in sorted(steps)],
            "thumbnails_written": bool(self._thumbnails_written),
            "warned_layers": sorted(self._warned_layers),
            # The last graph per layer, so that the first distance after a resume is still measured.
            "previous_graphs": {k: [int(s), bytes(b)] for k, (s, b) in previous.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.captured_steps = [int(s) for s in state_dict.get("captured_steps", [])]
        self._thumbnails_written = bool(state_dict.get("thumbnails_written", False))
        self._warned_layers = set(state_dict.get("warned_layers", []))
        self._restored_previous = {
            k: (int(v[0]), bytes(v[1])) for k, v in state_dict.get("previous_graphs", {}).items()
        }

    # ------------------------------------------------------------------------------------------ internals
    def _step_about_to_be_captured(self) -> int | None:
        """The step this epoch will log, when a checkpoint is saved after its last batch but before
        ``on_train_epoch_end`` (ModelCheckpoint saves in ``on_validation_end`` when there is validation).

        A run resumed from that checkpoint starts the next epoch, so the step counts as taken (this run takes
        it right after saving); otherwise it would be logged twice, or, with a stale count, never.
        """
        trainer = self._trainer
        if trainer is None or not self._active:
            return None
        try:
            step = int(trainer.current_epoch) + 1
            if self._last_epoch_step == step or not trainer.training:
                return None
            if not trainer.fit_loop.epoch_loop._num_ready_batches_reached():
                return None
            max_epochs = trainer.max_epochs
            last = (max_epochs is not None and max_epochs >= 0 and step >= max_epochs) or trainer.should_stop
            return step if (self.schedule.is_due(step) or last) else None
        except Exception:  # private loop attributes moved: fall back to the steps actually taken
            return None

    def _resolve_layers(self, pl_module: nn.Module) -> None:
        index = module_index(pl_module)
        layers = list(self.layers) if self.layers else default_layers(pl_module)
        if not layers:
            raise TopoActConfigError(
                "TopoActMonitor found no Linear or Conv layer to watch by default; pass layers=[...] with names "
                "from model.named_modules()"
            )
        modules = {}
        for name in layers:
            if name not in index:
                near = closest_names(name, [n for n in index if "_orig_mod" not in n])
                hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
                raise TopoActConfigError(
                    f"TopoActMonitor: the model has no module named {name!r}{hint} "
                    "(names are those of model.named_modules())"
                )
            modules[name] = index[name][1]
        if self.layers is None:
            rank_zero_info(f"TopoActMonitor: watching layers {layers} (pass layers=[...] to choose)")
        self.layers_ = layers
        self._modules = modules

    def _write_thumbnails(self) -> None:
        from topoact_lightning.summary import thumbnails_summary, write_summary

        assert self.probe_ is not None
        images = thumbnails(self.probe_)
        if images is None:
            return
        summary = thumbnails_summary(images)
        for writer in self._writers:
            write_summary(writer, summary, 0)
            writer.flush()
        self._thumbnails_written = True

    def _token_mask_for(self, i: int, x: Any) -> torch.Tensor | None:
        spec = self.token_mask
        probe = self.probe_
        assert probe is not None
        if spec is None:
            if isinstance(x, Mapping) and isinstance(x.get("attention_mask"), torch.Tensor):
                return x["attention_mask"].bool()
            return None
        if callable(spec):
            return torch.as_tensor(spec(x)).bool()
        if isinstance(spec, torch.Tensor):
            s = probe.starts[i]
            return spec[s : s + probe.sizes[i]].bool()
        if not isinstance(x, torch.Tensor):
            raise CaptureError("token_mask as a padding id needs tensor inputs of token ids")
        return x != spec

    def _run_forward(self, pl_module: nn.Module, x: Any) -> Any:
        if self.forward is not None:
            return self.forward(pl_module, x)
        return pl_module(x)

    def _logits_of(self, out: Any, has_labels: bool) -> torch.Tensor | None:
        if self.logits is None:
            return None
        if callable(self.logits):
            t = self.logits(out)
            return t if isinstance(t, torch.Tensor) and t.ndim == 2 else None
        if not has_labels:
            return None
        if isinstance(out, (tuple, list)) and out:
            out = out[0]
        elif isinstance(out, Mapping):
            out = out.get("logits")
        if isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[1] >= 2 and out.is_floating_point():
            return out
        return None

    def _batch_extras(self, out: Any, labels: np.ndarray | None, n: int) -> dict[str, torch.Tensor]:
        logits = self._logits_of(out, labels is not None)
        if logits is None or logits.shape[0] != n:
            return {}
        logits = logits.detach().float()
        pred = logits.argmax(dim=1)
        extras = {"prediction": pred.float()}
        if labels is not None:
            y = torch.as_tensor(labels, device=logits.device)
            known = (y >= 0) & (y < logits.shape[1])
            if self.logits == "auto" and bool((y >= logits.shape[1]).any()):
                return {}  # not class logits for these labels
            loss = torch.nn.functional.cross_entropy(
                logits, y.clamp(0, logits.shape[1] - 1), reduction="none"
            )
            nan = torch.full_like(loss, float("nan"))
            extras["correct"] = torch.where(known, (pred == y).float(), nan)
            extras["loss"] = torch.where(known, loss, nan)
        return {k: v.to("cpu", torch.float32) for k, v in extras.items()}

    def _local_pass(self, trainer: Any, pl_module: nn.Module, batch_ids: list[int]) -> dict[str, Any]:
        """Forward the given probe batches with hooks attached; per batch, the reduced activations and extras."""
        from lightning_fabric.utilities.apply_func import move_data_to_device

        probe = self.probe_
        assert probe is not None
        reductions = {
            layer: self._for_layer(self.reduction, layer, "reduction", "auto") for layer in self.layers_
        }
        selectors = {layer: self._for_layer(self.select, layer, "select", None) for layer in self.layers_}
        capture = ActivationCapture(self._modules, reductions, selectors, self.seed)
        flags = {m: m.training for m in pl_module.modules()}
        device = pl_module.device
        per_batch: list[dict[str, Any]] = []
        fired: set[str] = set()
        try:
            pl_module.eval()
            with capture, torch.no_grad(), trainer.precision_plugin.forward_context(), _eager():
                for i in batch_ids:
                    x = move_data_to_device(probe.batches[i], device)
                    start, size = probe.starts[i], probe.sizes[i]
                    mask = self._token_mask_for(i, x)
                    capture.begin_batch(
                        BatchContext(
                            indices=torch.arange(start, start + size, device=device),
                            n_total=probe.n,
                            layer="",
                            seed=self.seed,
                            token_mask=mask,
                        )
                    )
                    out = self._run_forward(pl_module, x)
                    if capture.error is not None:
                        raise capture.error
                    labels = probe.labels[start : start + size] if probe.labels is not None else None
                    per_batch.append({"i": i, "extras": self._batch_extras(out, labels, size)})
            fired = {layer for layer in self.layers_ if layer not in capture.silent_layers()}
            acts = capture.collect()
        finally:
            for m, flag in flags.items():
                m.training = flag
        # Split the concatenated rows back into batches.
        offsets = np.cumsum([0] + [probe.sizes[i] for i in batch_ids])
        for k, rec in enumerate(per_batch):
            rec["acts"] = {layer: t[offsets[k] : offsets[k + 1]].cpu().numpy() for layer, t in acts.items()}
            rec["extras"] = {name: v.numpy() for name, v in rec["extras"].items()}
        return {"batches": per_batch, "fired": sorted(fired), "error": None}

    def _capture(self, trainer: Any, pl_module: nn.Module, step: int | None, strict: bool = False) -> None:
        """One probe pass (all ranks), gathered on rank 0 and queued for the graph worker.

        ``step=None`` is a check on the first probe batch only. With ``strict``, problems raise
        :class:`TopoActConfigError` (before training); otherwise they become a warning and skipped graphs.
        """
        probe = self.probe_
        assert probe is not None
        t0 = time.perf_counter()
        world = int(getattr(trainer, "world_size", 1) or 1)
        distributed = world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = int(trainer.global_rank) if distributed else 0
        if step is None:
            batch_ids = [0] if rank == 0 else []
        else:
            batch_ids = [i for i in range(len(probe.batches)) if i % (world if distributed else 1) == rank]
        try:
            local = self._local_pass(trainer, pl_module, batch_ids)
        except (CaptureError, TopoActConfigError) as e:
            local = {"batches": [], "fired": [], "error": str(e)}
        except Exception as e:
            local = {"batches": [], "fired": [], "error": f"{type(e).__name__}: {e}"}
        if distributed:
            gathered: list[Any] = [None] * world
            torch.distributed.all_gather_object(gathered, local)
        else:
            gathered = [local]
        errors = [g["error"] for g in gathered if g["error"]]
        ran = [g for g in gathered if g["batches"] or g["error"]]
        fired = set().union(*(set(g["fired"]) for g in gathered if g["batches"]))
        silent = [layer for layer in self.layers_ if ran and layer not in fired] if not errors else []
        what = "the untrained network" if step == 0 else ("a check pass" if step is None else f"epoch {step}")
        if errors or silent:
            if errors:
                msg = f"TopoActMonitor: the probe pass failed on {what}: {errors[0]}"
            else:
                msg = (
                    f"TopoActMonitor: layer(s) {silent} never ran during the probe forward pass on {what}; "
                    "choose modules that are called in forward() (for example, nn.MultiheadAttention.out_proj "
                    "is used functionally and never fires)"
                )
            if strict:
                raise TopoActConfigError(msg)
            rank_zero_warn(msg + "; graphs for this step are skipped")
            if step is not None:
                self.captured_steps.append(step)
            return
        if step is None:
            return
        previous_step = max((s for s in self.captured_steps if s < step), default=None)
        self.captured_steps.append(step)
        self.scalar_steps[step] = self._logger_step(trainer, step)
        if trainer.is_global_zero and self._worker is not None:
            records = sorted((b for g in gathered for b in g["batches"]), key=lambda b: b["i"])
            extras_names = set.intersection(*(set(r["extras"]) for r in records)) if records else set()
            extras = {
                name: np.concatenate([r["extras"][name] for r in records]) for name in sorted(extras_names)
            }
            for layer in self.layers_:
                x = np.concatenate([r["acts"][layer] for r in records]).astype(np.float32, copy=False)
                job = GraphJob(
                    step=step,
                    previous_step=previous_step,
                    layer=layer,
                    activations=x,
                    labels=probe.labels,
                    class_names=probe.class_names,
                    extras=extras,
                    mapper_params=self._params_for(layer),
                    dead_threshold=self.dead_threshold,
                    collapse_dims=self.collapse_dims,
                )
                self._worker.submit(job)
        self.blocking_seconds.append(time.perf_counter() - t0)

    def _logger_step(self, trainer: Any, step: int) -> int:
        """The step the ``topoact/*`` scalars of ``step`` go to.

        With ``scalar_step="global_step"``, the step at which Lightning logs the metrics of the epoch just ended
        (its epoch-end metrics go to the last training step of the epoch, one below the count of optimizer
        steps taken), so that ``topoact/*`` and ``val_acc`` share the Scalars tab's x-axis; 0 for the untrained
        network.
        """
        if self.scalar_step == "epoch" or step == 0:
            return step
        loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
        stepped = getattr(loop, "_batches_that_stepped", None)
        if not isinstance(stepped, int):
            stepped = int(getattr(trainer, "global_step", step))
        return max(stepped - 1, 0)

    def _write_results(self, trainer: Any, results: list[Any]) -> None:
        if not results:
            return
        from topoact_lightning.summary import graph_summary, scalar_tag, write_summary

        for result in results:
            if not isinstance(result, GraphResult):
                rank_zero_warn(f"TopoActMonitor: the graph worker failed: {result!r}")
                continue
            if result.graph_bytes is None:
                rank_zero_warn(
                    f"TopoActMonitor: no graph for layer {result.layer!r} at step {result.step}: {result.error}"
                )
                continue
            self.build_seconds.append(result.seconds)
            annotations = {
                "diagnostics": {
                    k: result.scalars.get(k) for k in ("dead_units", "effective_rank", "distance")
                },
                "problem": result.problem,
            }
            position = self.layers_.index(result.layer) if result.layer in self.layers_ else None
            summary = graph_summary(result.layer, result.graph_bytes, annotations, position)
            for writer in self._writers:
                write_summary(writer, summary, result.step)
            metrics = {scalar_tag(result.layer, k): v for k, v in _finite(result.scalars).items()}
            scalar_step = self.scalar_steps.get(result.step, result.step)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=scalar_step)
            if result.problem and result.layer not in self._warned_layers:
                self._warned_layers.add(result.layer)
                rank_zero_warn(
                    f"TopoActMonitor: layer {result.layer!r} looks unhealthy after {result.step} epoch(s): "
                    f"{result.problem}. (Warned once per layer; see the topoact/{result.layer}/dead_units and "
                    "effective_rank scalars.)"
                )
        for writer in self._writers:
            writer.flush()

    def _finish(self, trainer: Any, timeout: float | None = None) -> None:
        """Wait for pending graphs, write them, and stop the worker (rank 0)."""
        worker = self._worker
        if worker is None:
            return
        self._write_results(trainer, worker.drain(timeout))
        if worker.pending:
            rank_zero_warn(
                f"TopoActMonitor: {worker.pending} graph(s) were still being built and are not logged"
            )
        worker.close()
        self._worker = None
        if isinstance(self._builder, GraphProcess):
            self._builder.close()
            if self._builder.failure:
                rank_zero_warn(f"TopoActMonitor: graphs were built in a thread: {self._builder.failure}")
        for logger in trainer.loggers:
            try:
                logger.save()
            except Exception:
                pass


def _eager():
    """Run ``torch.compile``d code eagerly during the probe pass.

    Dynamo does not guard on forward hooks added after compilation, so hooks on modules inside a compiled
    graph would silently stop firing; eager also avoids a recompilation for eval mode.
    """
    import contextlib

    set_stance = getattr(getattr(torch, "compiler", None), "set_stance", None)
    if set_stance is None:
        return contextlib.nullcontext()
    return set_stance("force_eager")


def _is_summary_writer(logger: Any) -> bool:
    from torch.utils.tensorboard import SummaryWriter

    try:
        return isinstance(logger.experiment, SummaryWriter)
    except Exception:
        return False
