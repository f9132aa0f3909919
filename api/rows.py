"""The rows of a page: employees, the filters on their profiles, sorting, and the legacy row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from api.params import StatisticsQuery
from api.tally import Tally
from projector.calendar import LocalCalendar
from projector.employee import Profile, loads_profile
from projector.facts import Kind


class Employee:
    """One row's employee; the profile is parsed only when a filter, sort or the page needs it."""

    __slots__ = ("_parsed", "_raw", "employee_id", "position")

    def __init__(self, employee_id: int, position: int, raw: bytes | None) -> None:
        self.employee_id = employee_id
        self.position = position
        self._raw = raw
        self._parsed: Profile | None = None

    @property
    def profile(self) -> Profile:
        if self._parsed is None:
            self._parsed = loads_profile(self._raw)
        return self._parsed


def employees_of(index: dict[bytes, bytes], profiles: dict[bytes, bytes]) -> list[Employee]:
    return [
        Employee(int(key), int(position), profiles.get(key))
        for key, position in index.items()
        if key != b"#"
    ]


def matches(employee: Employee, query: StatisticsQuery) -> bool:
    if not query.name and query.department_id is None:
        return True
    profile = employee.profile
    if query.name and query.name.casefold() not in profile.name.casefold():
        return False
    return query.department_id is None or query.department_id in profile.department_ids


def format_latest(calendar: LocalCalendar, stored: int) -> str:
    """A latest second (-1 = none) in SPEC's display form, or '-'."""
    return calendar.format(stored) if stored >= 0 else "-"


def row_of(
    employee: Employee, tally: Tally, calendar: LocalCalendar, opportunity: bool
) -> dict[str, Any]:
    counts = tally.counts[employee.position]
    latest = tally.latest[employee.position]
    row: dict[str, Any] = {
        "id": employee.employee_id,
        "name": employee.profile.name,
        "follow_count": int(counts[Kind.FOLLOW]),
        "lose_customer_count": int(counts[Kind.LOST]),
        "customer_count": int(counts[Kind.CURRENT]),
        "new_customer_count": int(counts[Kind.ADDED]),
    }
    if opportunity:
        row["opportunity_count"] = int(counts[Kind.OPPORTUNITY])
    row["customer_last_date"] = format_latest(calendar, int(latest[0]))
    row["follow_last_date"] = format_latest(calendar, int(latest[1]))
    row["userid"] = employee.profile.userid
    row["avatar_mediaid"] = employee.profile.avatar_mediaid
    return row


SORT_COLUMNS: dict[str, tuple[str, int]] = {
    "follow_count": ("counts", Kind.FOLLOW),
    "lose_customer_count": ("counts", Kind.LOST),
    "customer_count": ("counts", Kind.CURRENT),
    "new_customer_count": ("counts", Kind.ADDED),
    "opportunity_count": ("counts", Kind.OPPORTUNITY),
    "customer_last_date": ("latest", 0),
    "follow_last_date": ("latest", 1),
}


def order_employees(
    chosen: Sequence[Employee], tally: Tally, order_by: str, descending: bool
) -> list[Employee]:
    """Every row's place, computed on the counter arrays: only the page's rows are ever built.
    Ties are always by id ascending; no date ('-', held as -1) sorts before every date."""
    if not chosen:
        return []
    ids = np.fromiter((employee.employee_id for employee in chosen), np.int64, len(chosen))
    if order_by == "name":
        by_id = sorted(range(len(chosen)), key=lambda i: int(ids[i]))
        named = sorted(by_id, key=lambda i: chosen[i].profile.name, reverse=descending)
        return [chosen[i] for i in named]
    if order_by == "id":
        values = ids
    else:
        table, column = SORT_COLUMNS[order_by]
        positions = np.fromiter((e.position for e in chosen), np.int64, len(chosen))
        values = getattr(tally, table)[positions, column]
    order = np.lexsort((ids, -values if descending else values))
    return [chosen[i] for i in order]
