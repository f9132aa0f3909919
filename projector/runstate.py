"""A run's figures and stop rules, shared by the runner and the rebuild that drives it."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class RunStats:
    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    started: float = field(default_factory=time.monotonic)
    done: bool = False


class Health(enum.Enum):
    WORKING = 1
    REATTACHED = 2
    """The runner re-read where it stands and re-seeked."""
    DONE = 3
    """The run is over (caught up, or switched)."""


@dataclass(frozen=True, slots=True)
class Until:
    """When a run stops (besides a signal): idle for `idle_exit` s, `max_events` applied,
    every partition caught up (`caught_up`), or `on_caught_up` returning True."""

    idle_exit: float | None = None
    max_events: int | None = None
    caught_up: bool = False
    on_caught_up: Callable[[], bool] | None = None
