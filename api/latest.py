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
from dataclasses import dataclass

from api.reader import ProjectionReader
from projector.calendar import LocalCalendar
from projector.facts import DATED_KINDS, KINDS, Kind
from projector.layout import Layout

CELL_BYTES = 4
"""Month blobs are big-endian i32 per (employee index, kind)."""


def cell_field(position: int, kind: Kind) -> str:
    """The day-hash field of an employee index and kind (as `CellProjection.facts` writes it)."""
    return f"{position}:{int(kind)}"


@dataclass(frozen=True, slots=True)
class SliceCells:
    """The buckets a one-filter range was summed from, as read: whole month -> blob, loose
    day -> day hash. Kept so the page's latest dates need no second read of them."""

    months: dict[int, bytes | None]
    days: dict[int, dict[bytes, bytes]]

    def month_cell(self, month: int, position: int, kind: Kind) -> int:
        blob = self.months.get(month) or b""
        start = (position * KINDS + kind) * CELL_BYTES
        if start + CELL_BYTES > len(blob):
            return 0
        return int.from_bytes(blob[start : start + CELL_BYTES], "big", signed=True)

    def latest_month(self, position: int, kind: Kind, calendar: LocalCalendar) -> int | None:
        """The local month of the latest bucket whose cell is non-zero; None when no cell of
        the range is (loose days and whole months never overlap, so months compare)."""
        field = cell_field(position, kind).encode()
        day = max((d for d, cells in self.days.items() if int(cells.get(field, 0))), default=None)
        month = max((m for m in self.months if self.month_cell(m, position, kind)), default=None)
        if day is None:
            return month
        return calendar.month(day) if month is None else max(month, calendar.month(day))


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
