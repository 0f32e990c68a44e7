"""Findings: what went wrong in which layer since when, and which classes the network confuses.

A :class:`Finding` names one observation about one layer at one logged step. Two families:

*Fault kinds* (warnings, one per layer and kind over a whole run), from a layer's ``(n_samples, n_units)``
activation matrix over the probe and, for the last two, from the layer's :class:`LayerHistory`:

================  ==================================================================================================
``dead``          at least ``dead_share`` of the units are 0 for every probe sample (ReLU units that never fire)
``constant``      at least ``constant_share`` of the units output one *non-zero* value for every probe sample (the
                  layer's input or weights carry no signal; a ReLU after zero weights and bias 1 is this, not dead)
``collapsed``     the units vary, but the samples lie on one point (spread below ``collapse_spread`` of the
                  activation norm) or along fewer than ``collapse_dims`` effective directions
``saturated``     at least ``saturated_share`` of the units sit within ``saturation_atol`` of the layer's bounds
                  (+-1, or 0 and 1, detected from the data) for at least ``saturated_samples`` of the probe
``not_learning``  the activations (and the graph, when its distance is known) did not change over ``still_steps``
                  logged steps while the training loss moved by at least ``loss_rtol``
``exploding``     the activation norm grew by ``exploding_factor`` or more within ``exploding_window`` logged
                  steps, or the activations hold NaN or infinite values
================  ==================================================================================================

*Class findings* (informational, at each logged step), from the layer's :class:`~topoact_lightning.engine.MapperGraph`:
``confusion`` (pairs of classes sharing nodes), ``separation`` (the first step at which a class has a region of
the graph of its own) and ``suspect_labels`` (probe samples that sit only in nodes pure in another class: the
data-anomaly use of the TopoAct paper). See :func:`class_confusion`, :func:`separated_classes` and
:func:`suspect_samples` for the exact definitions.

Every threshold is a field of :class:`FindingThresholds`. The detectors are small pure functions over arrays;
:class:`FindingTracker` keeps each layer's short history, runs them per logged step and tells which findings
are new, with a plain ``state_dict`` that survives a checkpoint resume without repeating a finding.

This subpackage imports numpy and the engine only: it runs in the callback's torch-free graph process.

Example:
    >>> import numpy as np
    >>> x = np.ones((100, 8))  # a ReLU after a Linear with zero weights and bias 1: every unit fires, always at 1
    >>> [f.kind for f in fault_findings(3, "fc", x)]
    ['constant']
    >>> [f.kind for f in fault_findings(3, "fc", np.zeros((100, 8)))]  # bias -1 instead: no unit ever fires
    ['dead']
    >>> healthy = np.maximum(np.random.default_rng(0).normal(size=(100, 8)), 0)
    >>> fault_findings(3, "fc", healthy)
    []
"""

from __future__ import annotations

from topoact_lightning.logformat.findings import CLASS_KINDS, FAULT_KINDS, KINDS
from topoact_lightning.monitor.findings.classes import (
    class_confusion,
    class_findings,
    separated_classes,
    separation_findings,
    suspect_samples,
)
from topoact_lightning.monitor.findings.faults import (
    LayerHistory,
    activation_fingerprint,
    activation_norm,
    fault_findings,
    fingerprint_change,
    norm_growth,
    saturated_units,
    saturation_bounds,
    spread_ratio,
    still_window,
    unit_states,
)
from topoact_lightning.monitor.findings.records import (
    FIXES,
    Finding,
    FindingThresholds,
    findings_markdown,
)
from topoact_lightning.monitor.findings.tracker import FindingTracker

__all__ = [
    "CLASS_KINDS",
    "FAULT_KINDS",
    "FIXES",
    "KINDS",
    "Finding",
    "FindingThresholds",
    "FindingTracker",
    "LayerHistory",
    "activation_fingerprint",
    "activation_norm",
    "class_confusion",
    "class_findings",
    "fault_findings",
    "findings_markdown",
    "fingerprint_change",
    "norm_growth",
    "saturated_units",
    "saturation_bounds",
    "separated_classes",
    "separation_findings",
    "spread_ratio",
    "still_window",
    "suspect_samples",
    "unit_states",
]
