"""One progress line for long CLI commands (publish, rebuild): the same look everywhere.

On a terminal the line is redrawn in place, at most every `tty_interval`
seconds; elsewhere (logs, CI) a plain line is written every `log_interval`
seconds, so a log file does not fill with carriage returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

ERASE = "\r\x1b[K"
"""Back to column 0 and erase the line."""


def plural(count: int, noun: str) -> str:
    """`1 line`, `0 lines`, `2 lines`: the count and its noun, in agreement."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class ProgressLine:
    """A throttled, redrawn status line; `write()` prints a message without tearing it."""

    def __init__(
        self,
        stream: IO[str],
        *,
        tty_interval: float = 0.2,
        log_interval: float = 5.0,
        first_at_once: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = tty_interval if self.tty else log_interval
        self._clock = clock
        self._next = 0.0 if first_at_once else clock() + self.interval
        self._drawn = False

    def due(self) -> bool:
        """True (and the clock restarted) when the line may be redrawn now."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True

    def update(self, text: Callable[[], str], force: bool = False) -> None:
        """Redraw with `text()` when due (or forced); `text` is only built when shown."""
        if force or self.due():
            self.show(text())

    def show(self, text: str) -> None:
        if self.tty:
            self.stream.write(f"{ERASE}{text}")
            self._drawn = True
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the updating line so the next message starts at column 0."""
        if self._drawn:
            self.stream.write(ERASE)
            self._drawn = False

    def write(self, line: str) -> None:
        """A message line of its own, below which the progress line continues."""
        self.clear()
        self.stream.write(f"{line}\n")


def eta_text(remaining: float, rate: float) -> str:
    """Time left at `rate` per second as 12m05s; `--` when nothing moves."""
    if rate <= 0:
        return "--"
    seconds = int(remaining / rate)
    return f"{seconds // 60}m{seconds % 60:02d}s"
