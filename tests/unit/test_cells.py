"""Cells: how a batch's writes merge, and which counters and maxima one fact touches."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from projector.calendar import LocalCalendar
from projector.cells import BatchWrites, CellProjection
from projector.codec import encode_writes, log_code
from projector.facts import ALL, KINDS, Fact, Kind
from projector.layout import Layout
from tests.cells_view import CellsView, unpacked
from tests.contract import NOON
from tests.strategies import SHANGHAI

LAYOUT = Layout("p", 1)
CALENDAR = LocalCalendar(SHANGHAI)
TENANT = 1
INDEX = {10: 0, 25: 1, 3: 2}
"""Employee 3 sits third in every counter blob."""
DAY = LocalCalendar.day_of(date(2023, 3, 1))
MONTH = 2023 * 12 + 2
META = LAYOUT.meta(TENANT)


# --- merging ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deltas", "total"),
    [([1], 1), ([2, 3], 5), ([1, -1], 0), ([-1, -1, 5], 3)],
    ids=["one", "add-up", "cancel", "signed"],
)
def test_increments_of_one_cell_add_up(deltas: list[int], total: int) -> None:
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    for delta in deltas:
        sign, count = (1, delta) if delta > 0 else (-1, -delta)
        projection.facts(writes, TENANT, INDEX, [(Fact(3, Kind.LOST, NOON), count)], [ALL], sign)
        writes.hash_count("h", "f", delta)
    projection.flush(writes)
    total_cell = (LAYOUT.total(TENANT), slot(3, Kind.LOST))
    assert unpacked(writes).counters.get(total_cell, 0) == total
    assert writes.hash_counters == {("h", "f"): total}


def test_a_cancelled_increment_is_not_sent_to_the_store() -> None:
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    projection.facts(writes, TENANT, INDEX, [(Fact(3, Kind.LOST, NOON), 1)], ["i1"], 1)
    projection.facts(writes, TENANT, INDEX, [(Fact(3, Kind.LOST, NOON), 1)], ["i1"], -1)
    projection.flush(writes)
    writes.hash_count("h", "f", 2)
    writes.hash_count("h", "f", -2)
    assert encode_writes(writes) == [0]


@pytest.mark.parametrize("order", list(itertools.permutations([5, 9, 7])), ids=str)
def test_latest_keeps_the_maximum_and_min_max_keep_the_extremes(order: tuple[int, ...]) -> None:
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    for second in order:
        fact = Fact(3, Kind.FOLLOW, NOON + second)
        projection.facts(writes, TENANT, INDEX, [(fact, 1)], [ALL])
        writes.hash_min("meta", "first_day", second)
        writes.hash_max("meta", "last_day", second)
    projection.flush(writes)
    assert unpacked(writes).maxima[(LAYOUT.total_max(TENANT), 2 * 2 + 1)] == NOON + 9
    assert writes.hash_minima[("meta", "first_day")] == 5
    assert writes.hash_maxima[("meta", "last_day")] == 9


@pytest.mark.parametrize(
    ("presence", "final"),
    [([True], True), ([True, False], False), ([False, True], True), ([True, False, True], True)],
    ids=["add", "add-remove", "remove-add", "add-remove-add"],
)
def test_the_last_membership_change_wins(presence: list[bool], final: bool) -> None:
    writes = BatchWrites()
    for present in presence:
        writes.member("set", "42", present)
    assert writes.members == {("set", "42"): final}


def test_a_check_expects_the_first_value_read() -> None:
    writes = BatchWrites()
    writes.expect("c", "n", b"3")
    writes.expect("c", "n", b"4")
    writes.expect("o", "0", None)
    assert writes.checks == {("c", "n"): b"3", ("o", "0"): None}


def test_len_counts_distinct_cells_not_calls() -> None:
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    for _ in range(2):  # a day, a month and a total counter; three latest-date cells
        projection.facts(writes, TENANT, INDEX, [(Fact(3, Kind.FOLLOW, NOON), 1)], [ALL])
    writes.member("s", "1", True)
    writes.member("s", "1", False)
    projection.flush(writes)
    assert len(writes) == 6 + 2 + 1  # + first_day, last_day; + one member


# --- which cells a fact touches -----------------------------------------------------------------


def slot(employee: int, kind: Kind) -> int:
    return INDEX[employee] * KINDS + kind


def expected_all(employee: int, kind: Kind, second: int, delta: int, *, dated: bool) -> CellsView:
    """The `*` slice: day, month and total counters; maxima and the tenant's day span if dated."""
    day = CALENDAR.day(second)
    month = CALENDAR.month(day)
    writes = CellsView()
    for key in (
        LAYOUT.day(TENANT, day),
        LAYOUT.month(TENANT, month),
        LAYOUT.total(TENANT),
    ):
        writes.counters[(key, slot(employee, kind))] = delta
    if dated:
        at = INDEX[employee] * 2 + (0 if kind is Kind.ADDED else 1)
        for key in (
            LAYOUT.day_max(TENANT, day),
            LAYOUT.month_max(TENANT, month),
            LAYOUT.total_max(TENANT),
        ):
            writes.maxima[(key, at)] = second
    if delta > 0:
        writes.hash_minima[(META, "first_day")] = day
        writes.hash_maxima[(META, "last_day")] = day
    return writes


def expected_filter(slice_: str, employee: int, kind: Kind, second: int, delta: int) -> CellsView:
    """A filter slice: one record (day of month, slot) of the month's log; never maxima."""
    day = CALENDAR.day(second)
    writes = CellsView()
    month = CALENDAR.month(day)
    code = log_code(day - CALENDAR.first_day_of_month(month), slot(employee, kind))
    writes.logs[(LAYOUT.log(TENANT, slice_, month), int(code))] = delta
    writes.tails[LAYOUT.log(TENANT, slice_, month)] = LAYOUT.log_tail(TENANT, slice_, month)
    return writes


FACT_CASES: list[tuple[str, int, Kind, int, int, str, bool]] = [
    # id, employee, kind, count, sign, slice, whether the latest dates are touched
    ("added-in-all", 3, Kind.ADDED, 1, 1, ALL, True),
    ("follow-in-all-uses-the-second-max-slot", 25, Kind.FOLLOW, 1, 1, ALL, True),
    ("lost-has-no-date", 3, Kind.LOST, 1, 1, ALL, False),
    ("current-has-no-date", 10, Kind.CURRENT, 1, 1, ALL, False),
    ("opportunity-has-no-date", 3, Kind.OPPORTUNITY, 1, 1, ALL, False),
    ("count-of-two", 3, Kind.FOLLOW, 2, 1, ALL, True),
    ("negative-never-touches-maxima", 3, Kind.ADDED, 1, -1, ALL, False),
    ("negative-follow-never-touches-maxima", 3, Kind.FOLLOW, 2, -1, ALL, False),
    ("industry-slice-has-no-maxima", 3, Kind.ADDED, 1, 1, "i5", False),
    ("tag-slice-negative", 25, Kind.CURRENT, 1, -1, "t7", False),
]


@pytest.mark.parametrize(
    ("employee", "kind", "count", "sign", "slice_", "dated"),
    [case[1:] for case in FACT_CASES],
    ids=[case[0] for case in FACT_CASES],
)
def test_the_cells_one_fact_touches(
    employee: int, kind: Kind, count: int, sign: int, slice_: str, dated: bool
) -> None:
    writes = BatchWrites()
    fact = Fact(employee, kind, NOON)
    projection = CellProjection(LAYOUT, CALENDAR)
    projection.facts(writes, TENANT, INDEX, [(fact, count)], [slice_], sign)
    projection.flush(writes)
    cells = unpacked(writes)
    if slice_ == ALL:
        assert cells == expected_all(employee, kind, NOON, sign * count, dated=dated)
    else:
        assert cells == expected_filter(slice_, employee, kind, NOON, sign * count)


@pytest.mark.parametrize(
    ("instant", "local_day"),
    [(NOON + 12 * 3600 - 1, date(2023, 3, 1)), (NOON + 12 * 3600, date(2023, 3, 2))],
    ids=["last-second-of-the-local-day", "local-midnight"],
)
def test_a_fact_is_bucketed_on_its_local_day(instant: int, local_day: date) -> None:
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    projection.facts(writes, TENANT, INDEX, [(Fact(3, Kind.FOLLOW, instant), 1)], [ALL, "i1"])
    projection.flush(writes)
    cells = unpacked(writes)
    day = LocalCalendar.day_of(local_day)
    assert (LAYOUT.day(TENANT, day), slot(3, Kind.FOLLOW)) in cells.counters
    month = CALENDAR.month(day)
    code = log_code(day - CALENDAR.first_day_of_month(month), slot(3, Kind.FOLLOW))
    assert (LAYOUT.log(TENANT, "i1", month), int(code)) in cells.logs


def test_several_slices_and_facts_merge_into_one_set_of_writes() -> None:
    writes = BatchWrites()
    facts = [(Fact(3, Kind.FOLLOW, NOON), 1), (Fact(3, Kind.FOLLOW, NOON + 60), 1)]
    projection = CellProjection(LAYOUT, CALENDAR)
    projection.facts(writes, TENANT, INDEX, facts, [ALL, "i1", "t2"])
    projection.flush(writes)
    cells = unpacked(writes)
    follow = slot(3, Kind.FOLLOW)
    assert cells.counters[(LAYOUT.total(TENANT), follow)] == 2
    assert cells.logs[(LAYOUT.log(TENANT, "t2", MONTH), follow)] == 2  # day 0 of March
    assert cells.logs[(LAYOUT.log(TENANT, "i1", MONTH), follow)] == 2
    assert cells.maxima[(LAYOUT.total_max(TENANT), 2 * 2 + 1)] == NOON + 60


def test_a_vast_tenants_employee_beyond_the_packed_code_still_gets_its_cells() -> None:
    """Slots past 2**24 do not fit the sort code: they take the column-sort path."""
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    far = {7: 4_000_000, 3: 2}
    facts = [(Fact(7, Kind.FOLLOW, NOON), 1), (Fact(3, Kind.FOLLOW, NOON), 1)]
    projection.facts(writes, TENANT, far, facts, [ALL, "i1"])
    projection.flush(writes)
    cells = unpacked(writes)
    far_slot = 4_000_000 * KINDS + Kind.FOLLOW
    assert cells.counters[(LAYOUT.day(TENANT, DAY), far_slot)] == 1
    assert cells.logs[(LAYOUT.log(TENANT, "i1", MONTH), far_slot)] == 1
    assert cells.logs[(LAYOUT.log(TENANT, "i1", MONTH), slot(3, Kind.FOLLOW))] == 1
    assert cells.maxima[(LAYOUT.total_max(TENANT), 4_000_000 * 2 + 1)] == NOON


def test_facts_of_one_batch_that_cancel_out_write_nothing() -> None:
    """A move out and back within a batch: the packed blocks carry no zero cells."""
    writes = BatchWrites()
    projection = CellProjection(LAYOUT, CALENDAR)
    facts = [(Fact(3, Kind.FOLLOW, NOON), 1)]
    projection.facts(writes, TENANT, INDEX, facts, ["i1"], -1)
    projection.facts(writes, TENANT, INDEX, facts, ["i1"], 1)
    projection.flush(writes)
    assert writes.cells == []
    assert encode_writes(writes) == [0]
