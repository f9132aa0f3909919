"""What the projector tells its log while it runs: progress every 10 s, dead letters, rate-limited.

A busy projector writes one progress line per interval (events applied and their rate,
the lag, dead letters so far), never one per batch; each dead letter is logged with its
reason and where it came from, at most `limit` per interval, and the rest are counted in
one "suppressed" line, so a producer spewing poison cannot flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from projector.layout import Layout

log = logging.getLogger("projector")

PROGRESS_EVERY_S = 10.0
DEAD_LETTER_LINES = 10
"""Dead letters logged one by one per interval; the others are summed up."""


@dataclass
class ProgressLog:
    """One INFO line per `every` s while batches are applied."""

    every: float = PROGRESS_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _since: float | None = None
    _events: int = 0

    def applied(self, events: int, lag: int | None, dead_letters: int) -> None:
        """After a batch: `events` it applied, the lag now, dead letters since start."""
        now = self.clock()
        if self._since is None:
            self._since = now
        self._events += events
        elapsed = now - self._since
        if elapsed < self.every:
            return
        log.info(
            "applied %d events in the last %.0f s (%.0f/s), lag %s, %d dead letters so far",
            self._events,
            elapsed,
            self._events / elapsed,
            "unknown" if lag is None else str(lag),
            dead_letters,
        )
        self._since, self._events = now, 0


@dataclass
class DeadLetterLog:
    """Each dead letter as a WARNING with its reason, at most `limit` per `every` s."""

    limit: int = DEAD_LETTER_LINES
    every: float = PROGRESS_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _window: float = field(default=float("-inf"))
    _shown: int = 0
    _suppressed: int = 0

    def letter(self, topic: str, partition: int, offset: int, reason: str) -> None:
        self._roll()
        if self._shown < self.limit:
            self._shown += 1
            log.warning(
                "dead letter: %s partition %d offset %d: %s", topic, partition, offset, reason
            )
        else:
            self._suppressed += 1

    def flush(self) -> None:
        """Say how many lines the current interval suppressed (at shutdown)."""
        if self._suppressed:
            log.warning(
                "%d more dead letters in the last %.0f s not logged one by one "
                "(see the dead-letter topic)",
                self._suppressed,
                self.every,
            )
            self._suppressed = 0

    def _roll(self) -> None:
        now = self.clock()
        if now - self._window >= self.every:
            self.flush()
            self._window, self._shown = now, 0


def log_reattach(old: Layout, new: Layout, reason: str, lost: bool, topic: str) -> None:
    """Say in plain words why the runner re-read where it stands."""
    if lost:
        log.warning(
            "the projection state of topic %s is gone (Redis restarted without persistence, or "
            "flushed): rebuilding v%d from the beginning of the topic; the API answers "
            "'being rebuilt' and /readyz is 503 until it has caught up",
            topic,
            new.version,
        )
    elif new.version != old.version:
        log.info(
            "v%d is no longer current: now writing v%d (a rebuild switched)",
            old.version,
            new.version,
        )
    elif new.overrides != old.overrides:
        log.info("tenants rebuilt on their own moved: now writing %s", overrides_text(new))
    elif reason.endswith("changed under us"):  # a fence: another writer moved a partition on
        log.info(
            "another instance wrote to partitions this one held (a rebalance): resuming "
            "from the offsets stored in Redis"
        )
    else:
        log.info("resuming from the offsets stored in Redis (after a %s)", reason)


def overrides_text(layout: Layout) -> str:
    return ", ".join(f"tenant {t} in v{v}" for t, v in layout.overrides) or "no tenant overrides"
