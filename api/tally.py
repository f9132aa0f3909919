"""Adding up counter cells and customer facts into per-employee counts and latest dates.

Pure numpy over the blobs the reader returns: the read plans of `api.statistics`
differ in which cells they fetch, not in how the cells add up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from projector import customer as customer_fold
from projector.calendar import LocalCalendar
from projector.codec import LATEST, MAX_SLOTS, counter_cells, latest_cells, log_records, max_slot
from projector.facts import KINDS, Kind

Counts = NDArray[np.int64]


@dataclass(slots=True)
class Tally:
    """Per employee position: counts [n, KINDS] and latest second [n, 2] (-1 = none)."""

    counts: Counts
    latest: Counts

    @classmethod
    def zeros(cls, size: int) -> Tally:
        return cls(np.zeros((size, KINDS), np.int64), np.full((size, MAX_SLOTS), -1, np.int64))

    def keep_present_latest(self) -> None:
        """Latest blobs hold raw seconds (0 is 1970-01-01T00:00:00Z, not 'none'): a date is
        there only where the same buckets count a fact of its kind."""
        for kind in (Kind.ADDED, Kind.FOLLOW):
            slot = max_slot(kind)
            self.latest[:, slot] = np.where(self.counts[:, kind] > 0, self.latest[:, slot], -1)


def add_blob(target: Counts, blob: bytes | None, dtype: str, width: int) -> None:
    """Add (or for maxima, max) a big-endian counter blob into `target` of shape [n, width]."""
    if not blob:
        return
    values = latest_cells(blob) if dtype == LATEST else counter_cells(blob)
    rows = min(-(-len(values) // width), target.shape[0])
    block = np.zeros(rows * width, np.int64)
    used = min(len(values), rows * width)
    block[:used] = values[:used]
    block = block.reshape(rows, width)
    if dtype == LATEST:
        np.maximum(target[:rows], block, out=target[:rows])
    else:
        target[:rows] += block


def add_month_log(
    target: Counts,
    base: bytes | None,
    tail: bytes | None,
    days: tuple[int, int],
    month_start: int,
) -> tuple[Counts, Counts]:
    """Add a filter month log's net cells on days inside `days` into `target` [n, KINDS]
    (slots past `n` are newer employees); returns those cells' (slots, values)."""
    day_of_month, slots, values = log_records(base, tail)
    day = month_start + day_of_month
    inside = (day >= days[0]) & (day <= days[1]) & (slots < target.size)
    if not inside.all():
        slots, values = slots[inside], values[inside]
    if len(slots):
        flat = target.reshape(-1)
        flat += np.bincount(slots, weights=values, minlength=flat.size).astype(np.int64)
    return slots, values


def tally_facts(
    states: Iterable[customer_fold.CustomerState],
    positions: dict[int, int],
    days: tuple[int, int] | None,
    calendar: LocalCalendar,
    tally: Tally,
) -> None:
    """Exact counts and latest dates straight from customers' facts."""
    for state in states:
        for (employee_id, kind, second), count in state.facts.items():
            row = positions.get(employee_id)
            if row is None or count <= 0:
                continue
            if days is not None and not days[0] <= calendar.day(second) <= days[1]:
                continue
            tally.counts[row, kind] += count
            if kind in (Kind.ADDED, Kind.FOLLOW):
                slot = max_slot(kind)
                tally.latest[row, slot] = max(tally.latest[row, slot], second)


def latest_second(
    facts: Iterable[list[int]],
    employee_id: int,
    kind: Kind,
    days: tuple[int, int] | None,
    calendar: LocalCalendar,
) -> int:
    """The latest second (-1 = none) of one employee's facts of one kind in `days`, over
    customers' flat facts (`customer.loads_facts`): plain ints, no arrays, for a page row."""
    latest = -1
    for flat in facts:
        for fact_employee, fact_kind, second, count in zip(
            flat[0::4], flat[1::4], flat[2::4], flat[3::4], strict=True
        ):
            if (
                fact_employee == employee_id
                and fact_kind == kind
                and count > 0
                and second > latest
                and (days is None or days[0] <= calendar.day(second) <= days[1])
            ):
                latest = second
    return latest
