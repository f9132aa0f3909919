"""SliceCells.latest_month: the month of a row's latest fact under one filter, from the cells."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pytest

from api.latest import SliceCells
from api.tally import add_day_cells, latest_second
from projector.calendar import LocalCalendar
from projector.codec import day_field as cell_field
from projector.codec import parse_day_hash
from projector.facts import KINDS, Kind
from tests.strategies import SHANGHAI

CALENDAR = LocalCalendar(SHANGHAI)
FEBRUARY, MARCH, APRIL = 2023 * 12 + 1, 2023 * 12 + 2, 2023 * 12 + 3
Cell = tuple[int, Kind]
"""(employee index, kind)"""


def day(text: str) -> int:
    return LocalCalendar.day_of(date.fromisoformat(text))


def blob(values: Mapping[Cell, int], employees: int = 3) -> bytes:
    """A month blob as the projector writes it: big-endian i32 [employee index][kind]."""
    cells = np.zeros(employees * KINDS, ">i4")
    for (position, kind), value in values.items():
        cells[position * KINDS + kind] = value
    return cells.tobytes()


def day_hash(values: Mapping[Cell, int]) -> dict[bytes, bytes]:
    return {cell_field(p, k).encode(): str(v).encode() for (p, k), v in values.items()}


FOLLOW_1 = (1, Kind.FOLLOW)
CASES: dict[str, tuple[SliceCells, int | None]] = {
    "nothing-read": (SliceCells({}, {}), None),
    "all-zero": (SliceCells({MARCH: blob({})}, {day("2023-04-02"): {}}), None),
    "only-another-kind": (SliceCells({MARCH: blob({(1, Kind.ADDED): 2})}, {}), None),
    "only-another-employee": (
        SliceCells({}, {day("2023-04-02"): day_hash({(2, Kind.FOLLOW): 1})}),
        None,
    ),
    "a-loose-day": (
        SliceCells({}, {day("2023-04-02"): day_hash({FOLLOW_1: 1}), day("2023-04-03"): {}}),
        APRIL,
    ),
    "a-month-after-the-loose-days": (
        SliceCells({MARCH: blob({FOLLOW_1: 4})}, {day("2023-02-27"): day_hash({FOLLOW_1: 1})}),
        MARCH,
    ),
    "a-loose-day-after-the-month": (
        SliceCells({MARCH: blob({FOLLOW_1: 4})}, {day("2023-04-01"): day_hash({FOLLOW_1: 1})}),
        APRIL,
    ),
    "the-later-of-two-months": (
        SliceCells({FEBRUARY: blob({FOLLOW_1: 1}), MARCH: blob({FOLLOW_1: 1})}, {}),
        MARCH,
    ),
    "an-empty-later-month": (
        SliceCells({FEBRUARY: blob({FOLLOW_1: 1}), MARCH: blob({(0, Kind.FOLLOW): 5})}, {}),
        FEBRUARY,
    ),
    "only-the-earlier-loose-day": (
        SliceCells(
            {MARCH: blob({})},
            {day("2023-02-27"): day_hash({FOLLOW_1: 1}), day("2023-04-01"): {}},
        ),
        FEBRUARY,
    ),
    "a-blob-written-before-the-employee-had-an-index": (
        SliceCells({MARCH: blob({(0, Kind.FOLLOW): 1}, employees=1)}, {}),
        None,
    ),
    "month-read-whole-but-its-follows-all-fall-on-a-day-outside-the-range": (
        SliceCells(
            {FEBRUARY: blob({FOLLOW_1: 1}), MARCH: blob({FOLLOW_1: 2})},
            {},
            {MARCH: [day_hash({FOLLOW_1: 2})]},
        ),
        FEBRUARY,
    ),
    "month-read-whole-with-one-follow-left-inside-the-range": (
        SliceCells(
            {FEBRUARY: blob({FOLLOW_1: 1}), MARCH: blob({FOLLOW_1: 3})},
            {},
            {MARCH: [day_hash({FOLLOW_1: 1}), day_hash({FOLLOW_1: 1})]},
        ),
        MARCH,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_latest_month_of_employee_1s_follows(case: str) -> None:
    cells, expected = CASES[case]
    assert cells.latest_month(1, Kind.FOLLOW, CALENDAR) == expected


def test_month_cells_are_read_at_the_employees_slot() -> None:
    cells = SliceCells({MARCH: blob({(2, Kind.ADDED): -1, (2, Kind.FOLLOW): 70_000})}, {})
    assert cells.month_cell(MARCH, 2, Kind.ADDED) == -1
    assert cells.month_cell(MARCH, 2, Kind.FOLLOW) == 70_000
    assert cells.month_cell(MARCH, 1, Kind.FOLLOW) == 0
    assert cells.month_cell(FEBRUARY, 2, Kind.FOLLOW) == 0


def test_a_day_hash_parses_into_indexes_kinds_and_counts() -> None:
    positions, kinds, values = parse_day_hash(
        day_hash({(0, Kind.ADDED): 1, (12, Kind.FOLLOW): 70_000, (3, Kind.LOST): -2})
    )
    assert sorted(zip(positions.tolist(), kinds.tolist(), values.tolist(), strict=True)) == [
        (0, Kind.ADDED, 1),
        (3, Kind.LOST, -2),
        (12, Kind.FOLLOW, 70_000),
    ]
    assert [len(part) for part in parse_day_hash({})] == [0, 0, 0]


def test_day_hashes_add_into_the_counts_and_skip_indexes_past_the_tenants_size() -> None:
    counts = np.zeros((3, KINDS), np.int64)
    for cells in (
        day_hash({(1, Kind.FOLLOW): 2, (2, Kind.ADDED): 1, (7, Kind.FOLLOW): 9}),
        day_hash({(1, Kind.FOLLOW): 3}),
        {},
    ):
        add_day_cells(counts, *parse_day_hash(cells))
    expected = np.zeros((3, KINDS), np.int64)
    expected[1, Kind.FOLLOW] = 5
    expected[2, Kind.ADDED] = 1
    assert (counts == expected).all()


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
    assert follow == noon + 101
    assert latest_second(customers, 7, Kind.ADDED, (march_2, march_9), CALENDAR) == noon + 501
    assert latest_second(customers, 7, Kind.FOLLOW, None, CALENDAR) == (march_9 + 1) * 86400 + 1
    assert latest_second(customers, 9, Kind.FOLLOW, None, CALENDAR) == 0
