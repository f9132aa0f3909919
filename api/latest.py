"""Under one customer filter: which few customers can hold a page row's latest dates.

A filter slice's cell (employee, kind) on a day counts the facts of the customers
now in the slice: facts count only positive and a customer leaving the slice takes
all of them along. So a day's net cell (the sum of its records in the month's log,
base and tail) is non-zero exactly when a customer now in the slice has such a
fact on that day, and the row's latest fact in the range lies in the latest month
M with such a cell inside the range. Every customer with such a fact in M is in
the employee's set for M (`Layout.employee_month_customers`), and a customer now
in the slice with a later fact in the range would have made a later cell non-zero:
so the latest fact of the customers in both sets, over the range, is the row's
latest date. That bounds the states a request reads by one employee-month per row
and kind, not by the employee's whole history in the slice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from api.reader import ProjectionReader
from projector.facts import DATED_KINDS, KINDS, Kind
from projector.layout import Layout

Cells = NDArray[np.int64]


class SliceCells:
    """The net non-zero cells a one-filter range was summed from, per local month: (slots,
    values) of its days inside the range. Kept so the page's latest dates need no second
    read; the latest month of every (employee index, kind) is found once, on first use."""

    __slots__ = ("_latest", "months")

    def __init__(self, months: dict[int, tuple[Cells, Cells]]) -> None:
        self.months = months
        self._latest: Cells | None = None

    def _latest_months(self) -> Cells:
        """Per slot (index * KINDS + kind): the latest month with a non-zero cell, else -1."""
        if self._latest is None:
            width = max(
                (int(slots.max()) + 1 for slots, _ in self.months.values() if len(slots)), default=0
            )
            latest = np.full(width, -1, np.int64)
            for month in sorted(self.months):
                slots, values = self.months[month]
                latest[slots[values != 0]] = month
            self._latest = latest
        return self._latest

    def latest_month(self, position: int, kind: Kind) -> int | None:
        """The local month of the latest non-zero cell of the range; None when none is."""
        latest = self._latest_months()
        slot = position * KINDS + kind
        if slot >= len(latest) or latest[slot] < 0:
            return None
        return int(latest[slot])


async def latest_holders(
    reader: ProjectionReader,
    layout: Layout,
    tenant_id: int,
    slice_: str,
    cells: SliceCells,
    employees: Sequence[tuple[int, int]],
) -> list[dict[Kind, set[bytes]]]:
    """Per row ((employee id, index) pairs): for each dated kind with a non-zero cell in the
    range, the customers that can hold its latest fact (one SINTER per row and month, in one
    round trip). A kind absent has no fact in the range: its date is '-' without any read."""
    months = [
        {
            kind: month
            for kind in DATED_KINDS
            if (month := cells.latest_month(position, kind)) is not None
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
