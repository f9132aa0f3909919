"""Under one customer filter: which few customers can hold a page row's latest dates.

A filter slice's cell (employee, kind) in a bucket counts the facts of the
customers now in the slice: facts count only positive and a customer leaving the
slice takes all of them along. So a cell is non-zero exactly when a customer now
in the slice has such a fact in that bucket, and the row's latest fact in the
range lies in the latest non-zero bucket (a loose day or a whole month), in its
local month M. Every customer with such a fact in M is in the employee's set for
M (`Layout.employee_month_customers`), and a customer now in the slice with a
later fact in the range would have made a later cell non-zero: so the latest
fact of the customers in both sets, over the range, is the row's latest date.
Which day of M it falls on need not be known first: the set is per month.
That bounds the states a request reads by one employee-month per row and kind,
not by the employee's whole history in the slice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from api.reader import ProjectionReader
from projector.calendar import LocalCalendar
from projector.codec import CELL_BYTES, counter_cell, counter_cells, parse_day_hash
from projector.facts import DATED_KINDS, KINDS, Kind
from projector.layout import Layout

Cells = NDArray[np.int64]


class SliceCells:
    """The buckets a one-filter range was summed from, as read: whole month -> blob, loose
    day -> day hash. Kept so the page's latest dates need no second read of them; the latest
    non-zero bucket of every (employee index, kind) is found once, vectorised, on first use."""

    __slots__ = ("_latest", "_parsed", "_parsed_minus", "days", "minus", "months")

    def __init__(
        self,
        months: dict[int, bytes | None],
        days: dict[int, dict[bytes, bytes]],
        minus: dict[int, list[dict[bytes, bytes]]] | None = None,
    ) -> None:
        self.months = months
        self.days = days
        self.minus = minus or {}
        """month -> the day hashes of its days outside the range (`cover_range`)."""
        self._latest: tuple[Cells, Cells] | None = None
        self._parsed: list[tuple[int, tuple[Cells, Cells, Cells]]] | None = None
        self._parsed_minus: dict[int, list[tuple[Cells, Cells, Cells]]] | None = None

    def parsed_days(self) -> list[tuple[int, tuple[Cells, Cells, Cells]]]:
        """Each loose day with its hash parsed (parse_day_hash), once for counts and dates."""
        if self._parsed is None:
            self._parsed = [(day, parse_day_hash(cells)) for day, cells in self.days.items()]
        return self._parsed

    def parsed_minus(self) -> dict[int, list[tuple[Cells, Cells, Cells]]]:
        """The hashes to take off each partly covered month, parsed once."""
        if self._parsed_minus is None:
            self._parsed_minus = {
                month: [parse_day_hash(cells) for cells in hashes]
                for month, hashes in self.minus.items()
            }
        return self._parsed_minus

    def month_cell(self, month: int, position: int, kind: Kind) -> int:
        return counter_cell(self.months.get(month) or b"", position, kind)

    def _latest_buckets(self) -> tuple[Cells, Cells]:
        """Per slot (index * KINDS + kind): the latest whole month and the latest loose day
        whose cell is non-zero, -1 where none is."""
        if self._latest is None:
            sizes = (len(blob or b"") // CELL_BYTES for blob in self.months.values())
            width = max(sizes, default=0)
            parsed = self.parsed_days()
            for _, (positions, kinds, _) in parsed:
                if len(positions):
                    width = max(width, int((positions * KINDS + kinds).max()) + 1)
            months = np.full(width, -1, np.int64)
            minus = self.parsed_minus()
            for month in sorted(self.months):
                blob = self.months[month]
                if blob:
                    values = counter_cells(blob)
                    for positions, kinds, counts in minus.get(month, ()):
                        slots = positions * KINDS + kinds
                        inside = slots < len(values)
                        np.subtract.at(values, slots[inside], counts[inside])
                    months[: len(values)][values != 0] = month
            days = np.full(width, -1, np.int64)
            for day, (positions, kinds, values) in parsed:
                slots = (positions * KINDS + kinds)[values != 0]
                np.maximum.at(days, slots, day)
            self._latest = months, days
        return self._latest

    def latest_month(self, position: int, kind: Kind, calendar: LocalCalendar) -> int | None:
        """The local month of the latest bucket whose cell is non-zero; None when no cell of
        the range is (loose days and whole months never overlap, so months compare)."""
        months, days = self._latest_buckets()
        slot = position * KINDS + kind
        if slot >= len(months):
            return None
        month, day = int(months[slot]), int(days[slot])
        if day < 0:
            return month if month >= 0 else None
        return max(month, calendar.month(day))


async def latest_holders(
    reader: ProjectionReader,
    layout: Layout,
    tenant_id: int,
    slice_: str,
    cells: SliceCells,
    employees: Sequence[tuple[int, int]],
    calendar: LocalCalendar,
) -> list[dict[Kind, set[bytes]]]:
    """Per row ((employee id, index) pairs): for each dated kind with a non-zero cell in the
    range, the customers that can hold its latest fact (one SINTER per row and month, in one
    round trip). A kind absent has no fact in the range: its date is '-' without any read."""
    months = [
        {
            kind: month
            for kind in DATED_KINDS
            if (month := cells.latest_month(position, kind, calendar)) is not None
        }
        for _, position in employees
    ]
    wanted = sorted(
        {
            (employee_id, month)
            for (employee_id, _), per_kind in zip(employees, months, strict=True)
            for month in per_kind.values()
        }
    )
    if not wanted:
        return [{} for _ in employees]
    members = layout.slice_members(tenant_id, slice_)
    replies = await reader.intersections(
        [[layout.employee_month_customers(tenant_id, e, m), members] for e, m in wanted]
    )
    shared = dict(zip(wanted, replies, strict=True))
    return [
        {kind: shared[(employee_id, month)] for kind, month in per_kind.items()}
        for (employee_id, _), per_kind in zip(employees, months, strict=True)
    ]
