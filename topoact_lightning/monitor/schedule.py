"""When to take a Mapper graph: the logging schedule.

Step convention: a graph's step is the number of training epochs completed when it was taken, so step 0 is the
untrained network (taken when fitting starts) and step ``k`` the network after its ``k``-th epoch. The last
epoch of a run is always taken, whatever the schedule, so that the final network is in the logs.

Example:
    >>> s = Schedule.from_spec(3)
    >>> [k for k in range(0, 10) if s.is_due(k)]
    [0, 3, 6, 9]
    >>> [k for k in range(0, 20) if Schedule.from_spec("log", untrained=False).is_due(k)]
    [1, 2, 4, 8, 16]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from topoact_lightning.errors import TopoActConfigError

#: What ``schedule=`` accepts, for messages.
SCHEDULE_HELP = (
    "schedule must be a positive int n (every n epochs), a list of epoch counts such as [1, 2, 5, 10], "
    'or "log" (epochs 1, 2, 4, 8, ...)'
)


@dataclass(frozen=True)
class Schedule:
    """Which steps (epochs completed) are due.

    Exactly one of ``every`` (every n epochs), ``steps`` (an explicit set) or ``log`` (powers of two) is set.
    ``untrained`` adds step 0.
    """

    every: int | None = None
    steps: frozenset[int] | None = None
    log: bool = False
    untrained: bool = True

    @classmethod
    def from_spec(cls, spec: int | str | Iterable[int], untrained: bool = True) -> Schedule:
        """Parse the callback's ``schedule=`` argument; raises :class:`TopoActConfigError` on anything else."""
        if isinstance(spec, bool):
            raise TopoActConfigError(f"{SCHEDULE_HELP}; got {spec!r}")
        if isinstance(spec, int):
            if spec < 1:
                raise TopoActConfigError(f"{SCHEDULE_HELP}; got {spec!r}")
            return cls(every=spec, untrained=untrained)
        if isinstance(spec, str):
            if spec.strip().lower() in ("log", "log2", "log-spaced"):
                return cls(log=True, untrained=untrained)
            raise TopoActConfigError(f"{SCHEDULE_HELP}; got {spec!r}")
        try:
            items = list(spec)
        except TypeError:
            raise TopoActConfigError(f"{SCHEDULE_HELP}; got {spec!r}") from None
        if not items or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in items):
            raise TopoActConfigError(f"{SCHEDULE_HELP}; the list must hold non-negative ints, got {spec!r}")
        return cls(steps=frozenset(items), untrained=untrained)

    def is_due(self, step: int) -> bool:
        """Whether the graph after ``step`` completed epochs is on the schedule (the last epoch aside)."""
        if step < 0:
            return False
        if step == 0:
            return self.untrained or (self.steps is not None and 0 in self.steps)
        if self.every is not None:
            return step % self.every == 0
        if self.steps is not None:
            return step in self.steps
        return step & (step - 1) == 0  # power of two

    def describe(self) -> str:
        if self.every is not None:
            what = "every epoch" if self.every == 1 else f"every {self.every} epochs"
        elif self.steps is not None:
            what = "after epochs " + ", ".join(map(str, sorted(self.steps)))
        else:
            what = "after epochs 1, 2, 4, 8, ..."
        return what + (", the untrained network" if self.untrained else "") + " and the last epoch"
