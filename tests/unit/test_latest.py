"""SliceCells.latest_month and month logs: the month of a row's latest fact under one filter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pytest

from api.latest import SliceCells
from api.tally import add_month_log, latest_second
from projector.calendar import LocalCalendar
from projector.codec import log_code, pack_log
from projector.facts import KINDS, Kind
from tests.strategies import SHANGHAI

CALENDAR = LocalCalendar(SHANGHAI)
FEBRUARY, MARCH, APRIL = 2023 * 12 + 1, 2023 * 12 + 2, 2023 * 12 + 3
Cell = tuple[int, Kind]
"""(employee index, kind)"""


def day(text: str) -> int:
    return LocalCalendar.day_of(date.fromisoformat(text))


def cells(values: Mapping[Cell, int]) -> tuple[np.ndarray, np.ndarray]:
    """A month's net cells in range as SliceCells holds them: (slots, values)."""
    slots = np.array([p * KINDS + k for p, k in values], np.int64)
    return slots, np.array(list(values.values()), np.int64)


FOLLOW_1 = (1, Kind.FOLLOW)
CASES: dict[str, tuple[SliceCells, int | None]] = {
    "nothing-read": (SliceCells({}), None),
    "all-empty": (SliceCells({MARCH: cells({}), APRIL: cells({})}), None),
    "only-another-kind": (SliceCells({MARCH: cells({(1, Kind.ADDED): 2})}), None),
    "only-another-employee": (SliceCells({APRIL: cells({(2, Kind.FOLLOW): 1})}), None),
    "one-month": (SliceCells({APRIL: cells({FOLLOW_1: 1}), MARCH: cells({})}), APRIL),
    "the-later-of-two-months": (
        SliceCells({FEBRUARY: cells({FOLLOW_1: 1}), MARCH: cells({FOLLOW_1: 1})}),
        MARCH,
    ),
    "an-empty-later-month": (
        SliceCells({FEBRUARY: cells({FOLLOW_1: 1}), MARCH: cells({(0, Kind.FOLLOW): 5})}),
        FEBRUARY,
    ),
    "a-cell-netted-to-zero-does-not-count": (
        SliceCells({FEBRUARY: cells({FOLLOW_1: 1}), MARCH: cells({FOLLOW_1: 0})}),
        FEBRUARY,
    ),
    "a-later-employee-only": (SliceCells({MARCH: cells({(0, Kind.FOLLOW): 1})}), None),
}


@pytest.mark.parametrize("case", CASES)
def test_latest_month_of_employee_1s_follows(case: str) -> None:
    held, expected = CASES[case]
    assert held.latest_month(1, Kind.FOLLOW) == expected


def log(records: Mapping[tuple[str, int, Kind], int]) -> bytes:
    """A month log of ((date, employee index, kind) -> value) records."""
    codes = [
        int(
            log_code(
                day(text) - CALENDAR.first_day_of_month(CALENDAR.month(day(text))), p * KINDS + k
            )
        )
        for text, p, k in records
    ]
    return pack_log(np.array(codes, np.int64), np.array(list(records.values()), np.int64))


def test_a_month_log_adds_only_its_days_inside_the_range_and_skips_newer_employees() -> None:
    """The range starts and ends inside March: its first and last days are cut off."""
    counts = np.zeros((3, KINDS), np.int64)
    base = log({("2023-03-01", 1, Kind.FOLLOW): 2, ("2023-03-10", 1, Kind.FOLLOW): 3})
    tail = log(
        {
            ("2023-03-10", 1, Kind.FOLLOW): -1,
            ("2023-03-20", 2, Kind.ADDED): 1,
            ("2023-03-20", 7, Kind.FOLLOW): 9,  # an employee past the tenant's size
            ("2023-03-31", 2, Kind.ADDED): 4,
        }
    )
    slots, values = add_month_log(
        counts, base, tail, (day("2023-03-02"), day("2023-03-30")), day("2023-03-01")
    )
    expected = np.zeros((3, KINDS), np.int64)
    expected[1, Kind.FOLLOW] = 2
    expected[2, Kind.ADDED] = 1
    assert (counts == expected).all()
    assert sorted(zip(slots.tolist(), values.tolist(), strict=True)) == [
        (1 * KINDS + Kind.FOLLOW, 2),
        (2 * KINDS + Kind.ADDED, 1),
    ]


def test_a_missing_month_log_adds_nothing() -> None:
    counts = np.zeros((3, KINDS), np.int64)
    slots, _ = add_month_log(counts, None, None, (0, 10**6), day("2023-03-01"))
    assert not counts.any() and len(slots) == 0


def test_a_rows_latest_second_is_its_own_latest_counted_fact_of_the_kind_in_range() -> None:
    march_2, march_9 = day("2023-03-02"), day("2023-03-09")
    noon = (march_2 * 86400) + 4 * 3600  # 12:00 in Shanghai
    customers = [
        [7, Kind.FOLLOW, noon, 1, 7, Kind.ADDED, noon + 500, 1],
        [7, Kind.FOLLOW, noon + 100, 1, 8, Kind.FOLLOW, noon + 900, 1],  # another employee
        [7, Kind.FOLLOW, noon + 300, -1],  # not counted
        [7, Kind.FOLLOW, (march_9 + 1) * 86400, 1],  # after the range
    ]
    follow = latest_second(customers, 7, Kind.FOLLOW, (march_2, march_9), CALENDAR)
    assert follow == noon + 100
    assert latest_second(customers, 7, Kind.ADDED, (march_2, march_9), CALENDAR) == noon + 500
    assert latest_second(customers, 7, Kind.FOLLOW, None, CALENDAR) == (march_9 + 1) * 86400
    assert latest_second(customers, 9, Kind.FOLLOW, None, CALENDAR) == -1
