"""The probe pass: one forward pass over the probe with hooks attached, gathered over the processes.

:class:`ProbePass` runs the model on the probe batches in eval mode, without gradients and in the trainer's
precision, keeps one reduced activation vector per sample and layer (:mod:`~topoact_lightning.monitor.capture`)
and, when the output holds class logits and the probe has labels, each sample's ``prediction``, ``correct`` and
``loss``. Under DDP each process runs its share of the batches and rank 0 receives them all. The result is a
:class:`PassResult`: plain CPU arrays in probe order, ready to become graph jobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from topoact_lightning.errors import TopoActConfigError
from topoact_lightning.monitor.capture import ActivationCapture, BatchContext, CaptureError, resolve_layers
from topoact_lightning.monitor.config import LayerConfig, MonitorConfig
from topoact_lightning.monitor.probe import Probe, build_probe, default_batch_size


@dataclass
class BatchRecord:
    """What one probe batch gave: its index, the reduced activations per layer and the per-sample extras."""

    index: int
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class LocalPass:
    """One process's share of a probe pass (what DDP gathers)."""

    batches: list[BatchRecord] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PassResult:
    """A whole probe pass, on rank 0: activations ``(n_probe, dim)`` per layer and extras ``(n_probe,)``.

    ``error`` says why the pass failed; ``silent`` lists watched layers whose hooks never fired. Either way the
    arrays are empty and the step gets no graph.
    """

    activations: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    silent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.silent

    def problem(self, step: int | None) -> str:
        """What went wrong, for a warning or a config error (``step=None``: the check pass before training)."""
        what = "the untrained network" if step == 0 else ("a check pass" if step is None else f"epoch {step}")
        if self.error:
            return f"TopoActMonitor: the probe pass failed on {what}: {self.error}"
        return (
            f"TopoActMonitor: layer(s) {self.silent} never ran during the probe forward pass on {what}; "
            "choose modules that are called in forward() (for example, nn.MultiheadAttention.out_proj "
            "is used functionally and never fires)"
        )


class ProbePass:
    """Runs probe passes for one fit (the probe, the hooked modules and their settings are fixed)."""

    def __init__(
        self,
        probe: Probe,
        modules: dict[str, nn.Module],
        layers: dict[str, LayerConfig],
        *,
        seed: int = 0,
        token_mask: Any = None,
        forward: Callable[[nn.Module, Any], Any] | None = None,
        logits: Any = "auto",
    ) -> None:
        self.probe = probe
        self.modules = modules
        self.layers = layers
        self.seed = seed
        self.token_mask = token_mask
        self.forward = forward
        self.logits = logits

    @classmethod
    def for_fit(cls, config: MonitorConfig, trainer: Any, pl_module: nn.Module) -> ProbePass:
        """Resolve the layers, their settings and the probe of one fit; what does not fit the model fails here."""
        modules = resolve_layers(pl_module, config.layers)
        settings = config.for_layers(list(modules))
        probe = build_probe(
            config.probe,
            batch_size=config.probe_batch_size or default_batch_size(pl_module.device),
            seed=config.seed,
            trainer=trainer,
            class_names=config.class_names,
        )
        need = max(s.min_samples for s in settings.values())
        if probe.n < need:
            raise TopoActConfigError(
                f"TopoActMonitor: the probe has {probe.n} samples but min_samples={need}, so no graph could have a "
                "node; give a larger probe (a few hundred samples) or lower mapper_params['min_samples']"
            )
        mask = config.token_mask
        if isinstance(mask, torch.Tensor) and mask.shape[0] != probe.n:
            raise TopoActConfigError(
                f"token_mask has {mask.shape[0]} rows but the probe has {probe.n} samples"
            )
        return cls(
            probe,
            modules,
            settings,
            seed=config.seed,
            token_mask=mask,
            forward=config.forward,
            logits=config.logits,
        )

    def run(self, trainer: Any, pl_module: nn.Module, check_only: bool = False) -> PassResult:
        """One pass on every rank (``check_only``: the first batch on rank 0), gathered on rank 0."""
        world = int(getattr(trainer, "world_size", 1) or 1)
        distributed = world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = int(trainer.global_rank) if distributed else 0
        n_batches = len(self.probe.batches)
        if check_only:
            batch_ids = [0] if rank == 0 else []
        else:
            batch_ids = [i for i in range(n_batches) if i % (world if distributed else 1) == rank]
        try:
            local = self.local_pass(trainer, pl_module, batch_ids)
        except (CaptureError, TopoActConfigError) as e:
            local = LocalPass(error=str(e))
        except Exception as e:
            local = LocalPass(error=f"{type(e).__name__}: {e}")
        if distributed:
            gathered: list[Any] = [None] * world
            torch.distributed.all_gather_object(gathered, local)
        else:
            gathered = [local]
        return self._combine(gathered)

    def _combine(self, gathered: list[LocalPass]) -> PassResult:
        errors = [g.error for g in gathered if g.error]
        if errors:
            return PassResult(error=errors[0])
        ran = [g for g in gathered if g.batches]
        fired = set().union(*(set(g.fired) for g in ran))
        silent = [layer for layer in self.layers if ran and layer not in fired]
        if silent:
            return PassResult(silent=silent)
        records = sorted((b for g in gathered for b in g.batches), key=lambda b: b.index)
        if not records:
            return PassResult()
        names = set.intersection(*(set(r.extras) for r in records))
        extras = {name: np.concatenate([r.extras[name] for r in records]) for name in sorted(names)}
        acts = {
            layer: np.concatenate([r.activations[layer] for r in records]).astype(np.float32, copy=False)
            for layer in self.layers
        }
        return PassResult(activations=acts, extras=extras)

    def local_pass(self, trainer: Any, pl_module: nn.Module, batch_ids: list[int]) -> LocalPass:
        """Forward the given probe batches with hooks attached; per batch, the reduced activations and extras."""
        from lightning_fabric.utilities.apply_func import move_data_to_device

        probe = self.probe
        reductions = {layer: cfg.reduction for layer, cfg in self.layers.items()}
        selectors = {layer: cfg.select for layer, cfg in self.layers.items()}
        capture = ActivationCapture(self.modules, reductions, selectors, self.seed)
        flags = {m: m.training for m in pl_module.modules()}
        device = pl_module.device
        records: list[BatchRecord] = []
        try:
            pl_module.eval()
            with capture, torch.no_grad(), trainer.precision_plugin.forward_context(), eager():
                for i in batch_ids:
                    x = move_data_to_device(probe.batches[i], device)
                    start, size = probe.starts[i], probe.sizes[i]
                    capture.begin_batch(
                        BatchContext(
                            indices=torch.arange(start, start + size, device=device),
                            n_total=probe.n,
                            layer="",
                            seed=self.seed,
                            token_mask=self._token_mask_for(i, x),
                        )
                    )
                    out = self.forward(pl_module, x) if self.forward is not None else pl_module(x)
                    if capture.error is not None:
                        raise capture.error
                    labels = probe.targets[start : start + size] if probe.targets is not None else None
                    records.append(BatchRecord(i, extras=self._batch_extras(out, labels, size)))
            fired = sorted(layer for layer in self.layers if layer not in capture.silent_layers())
            acts = capture.collect()
        finally:
            for m, flag in flags.items():
                m.training = flag
        # Split the concatenated rows back into batches.
        offsets = np.cumsum([0] + [probe.sizes[i] for i in batch_ids])
        for k, rec in enumerate(records):
            rec.activations = {
                layer: t[offsets[k] : offsets[k + 1]].cpu().numpy() for layer, t in acts.items()
            }
        return LocalPass(batches=records, fired=fired)

    def _token_mask_for(self, i: int, x: Any) -> torch.Tensor | None:
        spec = self.token_mask
        if spec is None:
            if isinstance(x, Mapping) and isinstance(x.get("attention_mask"), torch.Tensor):
                return x["attention_mask"].bool()
            return None
        if callable(spec):
            return torch.as_tensor(spec(x)).bool()
        if isinstance(spec, torch.Tensor):
            s = self.probe.starts[i]
            return spec[s : s + self.probe.sizes[i]].bool()
        if not isinstance(x, torch.Tensor):
            raise CaptureError("token_mask as a padding id needs tensor inputs of token ids")
        return x != spec

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

    def _batch_extras(self, out: Any, labels: np.ndarray | None, n: int) -> dict[str, np.ndarray]:
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
        return {k: v.to("cpu", torch.float32).numpy() for k, v in extras.items()}


def eager() -> contextlib.AbstractContextManager:
    """Run ``torch.compile``d code eagerly during the probe pass.

    Dynamo does not guard on forward hooks added after compilation, so hooks on modules inside a compiled
    graph would silently stop firing; eager also avoids a recompilation for eval mode.
    """
    set_stance = getattr(getattr(torch, "compiler", None), "set_stance", None)
    if set_stance is None:
        return contextlib.nullcontext()
    return set_stance("force_eager")
