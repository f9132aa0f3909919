"""The freshness headers and the projection status read from Redis's replies (SPEC §3)."""

from __future__ import annotations

import pytest

from api.freshness import applied_at_text, headers_of
from api.reader import ProjectionStatus, projection_status
from projector.control import Completeness


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1_764_604_800_123, "2025-12-01T16:00:00.123Z"),
        (1_764_604_800_999, "2025-12-01T16:00:00.999Z"),
    ],
)
def test_applied_at_is_rfc3339_utc_with_milliseconds(ms: int | None, text: str) -> None:
    assert applied_at_text(ms) == text


def test_headers_before_and_after_the_status_was_read() -> None:
    assert headers_of(None) == {"Cache-Control": "no-store"}
    status = ProjectionStatus(Completeness(True, 100), {0: 3, 1: 4}, 0, True)
    assert headers_of(status) == {
        "Cache-Control": "no-store",
        "X-Custstats-Lag": "7",
        "X-Custstats-Applied-At": "1970-01-01T00:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("marks", "fresh", "offsets", "complete", "percent", "lags"),
    [
        ({}, {}, {}, False, 0, {}),
        ({b"partitions": b"1", b"0": b"1"}, {}, {b"0": b"5"}, True, 100, {}),
        ({}, {b"target:0": b"10", b"end:0": b"12"}, {b"0": b"5"}, False, 50, {0: 7}),
        (
            {b"partitions": b"2", b"0": b"1"},
            {b"target:0": b"10", b"target:1": b"10", b"end:1": b"10"},
            {b"0": b"10"},
            False,
            50,
            {1: 10},
        ),
    ],
)
def test_projection_status(
    marks: dict[bytes, bytes],
    fresh: dict[bytes, bytes],
    offsets: dict[bytes, bytes],
    complete: bool,
    percent: int,
    lags: dict[int, int],
) -> None:
    status = projection_status(b"{}", marks, fresh, offsets)
    assert (status.complete, status.completeness.percent, dict(status.lags)) == (
        complete,
        percent,
        lags,
    )
    assert status.restored and not projection_status(None, marks, fresh, offsets).restored
