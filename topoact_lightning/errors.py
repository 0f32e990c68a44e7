"""Errors raised for misconfiguration, before any training happens."""

from __future__ import annotations


class TopoActConfigError(ValueError):
    """A parameter or the model does not fit (unknown layer, impossible Mapper parameters, bad probe).

    Derives from ``ValueError`` so that users of either Lightning namespace can catch it without importing
    that namespace's ``MisconfigurationException``.
    """
