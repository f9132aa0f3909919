"""The CLI's progress line: redrawn in place on a terminal, throttled lines elsewhere."""

from __future__ import annotations

import io

import pytest

from custstats.progress import ERASE, ProgressLine, eta_text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_terminal_line_is_redrawn_and_messages_do_not_tear_it() -> None:
    out, clock = Terminal(), Clock()
    line = ProgressLine(out, tty_interval=1.0, clock=clock)
    line.update(lambda: "first")  # not due yet: the first draw waits one interval
    clock.now += 1.0
    line.update(lambda: "1 of 3")
    line.write("a message")
    line.update(lambda: "too soon")
    line.update(lambda: "2 of 3", force=True)
    line.clear()
    assert out.getvalue() == f"{ERASE}1 of 3{ERASE}a message\n{ERASE}2 of 3{ERASE}"


def test_elsewhere_lines_are_plain_and_throttled() -> None:
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(out, log_interval=5.0, first_at_once=True, clock=clock)
    line.update(lambda: "a")
    clock.now += 4.0
    line.update(lambda: "b")
    clock.now += 1.0
    line.update(lambda: "c")
    line.clear()
    assert out.getvalue() == "a\nc\n"


@pytest.mark.parametrize(
    ("remaining", "rate", "text"),
    [(0, 0.0, "--"), (100, 0.0, "--"), (0, 5.0, "0m00s"), (725, 1.0, "12m05s"), (90, 2.0, "0m45s")],
)
def test_eta_text(remaining: float, rate: float, text: str) -> None:
    assert eta_text(remaining, rate) == text
