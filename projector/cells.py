"""How facts become counter cells: the write side of the projection, as plain data.

`BatchWrites` collects everything one poll batch changes, already merged (two
follows of the same employee on the same day are one increment of 2), so the
store can apply a batch in one atomic call. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from projector.calendar import LocalCalendar
from projector.facts import ALL, DATED_KINDS, KINDS, Fact, Kind
from projector.layout import Layout

MAX_SLOTS = 2
"""Maxima blobs hold [employee index][ADDED latest, FOLLOW latest] as second + 1 (0 = none)."""


CellKeys = tuple[str, ...]


def max_slot(kind: Kind) -> int:
    return 0 if kind == Kind.ADDED else 1


@dataclass(slots=True)
class BatchWrites:
    """Merged writes of one batch; `checks` are (key, field) -> value expected before writing."""

    checks: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    """(key, field) -> expected; field "" means the key is a plain string."""
    values: dict[str, bytes] = field(default_factory=dict)
    """Plain string keys to SET (customer states)."""
    hash_sets: dict[tuple[str, str], bytes] = field(default_factory=dict)
    counters: dict[tuple[str, int], int] = field(default_factory=dict)
    maxima: dict[tuple[str, int], int] = field(default_factory=dict)
    hash_counters: dict[tuple[str, str], int] = field(default_factory=dict)
    hash_minima: dict[tuple[str, str], int] = field(default_factory=dict)
    hash_maxima: dict[tuple[str, str], int] = field(default_factory=dict)
    members: dict[tuple[str, str], bool] = field(default_factory=dict)

    def expect(self, key: str, field_: str, value: bytes | None) -> None:
        """Record the first value seen: the batch applies only if it is still there."""
        self.checks.setdefault((key, field_), value)

    def count(self, key: str, slot: int, delta: int) -> None:
        total = self.counters.get((key, slot), 0) + delta
        self.counters[(key, slot)] = total

    def latest(self, key: str, slot: int, second: int) -> None:
        if second > self.maxima.get((key, slot), -1):
            self.maxima[(key, slot)] = second

    def hash_count(self, key: str, field_: str, delta: int) -> None:
        self.hash_counters[(key, field_)] = self.hash_counters.get((key, field_), 0) + delta

    def hash_min(self, key: str, field_: str, value: int) -> None:
        held = self.hash_minima.get((key, field_))
        if held is None or value < held:
            self.hash_minima[(key, field_)] = value

    def hash_max(self, key: str, field_: str, value: int) -> None:
        held = self.hash_maxima.get((key, field_))
        if held is None or value > held:
            self.hash_maxima[(key, field_)] = value

    def member(self, key: str, member: str, present: bool) -> None:
        self.members[(key, member)] = present

    def __len__(self) -> int:
        return (
            len(self.values)
            + len(self.hash_sets)
            + len(self.counters)
            + len(self.maxima)
            + len(self.hash_counters)
            + len(self.hash_minima)
            + len(self.hash_maxima)
            + len(self.members)
        )


class CellProjection:
    """Expands signed facts of one customer into the cells of the slices it is counted in."""

    def __init__(self, layout: Layout, calendar: LocalCalendar) -> None:
        self.layout = layout
        self.calendar = calendar
        self._keys: dict[int, dict[str, dict[int, CellKeys]]] = {}
        """tenant -> slice -> day -> keys, memoised: spelling keys is the hot path's main cost.
        Nested so a lookup allocates nothing; the layout never changes for one projection."""
        self._cached = 0
        self._fields: dict[int, str] = {}
        """slot -> its day-hash field, 'position:kind'."""

    def _slice_keys(self, tenant_id: int, slice_: str) -> dict[int, CellKeys]:
        by_slice = self._keys.get(tenant_id)
        if by_slice is None:
            if self._cached > 400_000:
                self._keys.clear()
                self._cached = 0
            by_slice = self._keys[tenant_id] = {}
        by_day = by_slice.get(slice_)
        if by_day is None:
            by_day = by_slice[slice_] = {}
        return by_day

    def _cell_keys(self, tenant_id: int, slice_: str, day: int) -> CellKeys:
        """(day, month, total, day max, month max, total max) keys; a filter slice has only
        the first two."""
        layout = self.layout
        month = self.calendar.month(day)
        self._cached += 1
        if slice_ == ALL:
            return (
                layout.day(tenant_id, ALL, day),
                layout.month(tenant_id, ALL, month),
                layout.total(tenant_id),
                layout.day_max(tenant_id, day),
                layout.month_max(tenant_id, month),
                layout.total_max(tenant_id),
            )
        return (layout.day(tenant_id, slice_, day), layout.month(tenant_id, slice_, month))

    def facts(
        self,
        writes: BatchWrites,
        tenant_id: int,
        index: Mapping[int, int],
        facts: Iterable[tuple[Fact, int]],
        slices: Iterable[str],
        sign: int = 1,
    ) -> None:
        slices = tuple(slices)
        if not slices:
            return
        all_days = self._slice_keys(tenant_id, ALL) if ALL in slices else None
        filters = [self._slice_keys(tenant_id, slice_) for slice_ in slices if slice_ != ALL]
        names = [slice_ for slice_ in slices if slice_ != ALL]
        counters = writes.counters
        hash_counters = writes.hash_counters
        maxima = writes.maxima
        fields = self._fields
        day_of = self.calendar.day
        first_day = last_day = None
        for (employee_id, kind, second), count in facts:
            delta = sign * count
            position = index[employee_id]
            slot = position * KINDS + kind
            day = day_of(second)
            if all_days is not None:
                keys = all_days.get(day)
                if keys is None:
                    keys = all_days[day] = self._cell_keys(tenant_id, ALL, day)
                for key in keys[:3]:
                    counters[(key, slot)] = counters.get((key, slot), 0) + delta
                if delta > 0:
                    if kind in DATED_KINDS:
                        max_at = position * MAX_SLOTS + max_slot(kind)
                        latest = second + 1
                        for key in keys[3:]:
                            if latest > maxima.get((key, max_at), -1):
                                maxima[(key, max_at)] = latest
                    if first_day is None or day < first_day:
                        first_day = day
                    if last_day is None or day > last_day:
                        last_day = day
            if filters:
                field_ = fields.get(slot)
                if field_ is None:
                    field_ = fields[slot] = f"{position}:{int(kind)}"
                for by_day, slice_ in zip(filters, names, strict=True):
                    keys = by_day.get(day)
                    if keys is None:
                        keys = by_day[day] = self._cell_keys(tenant_id, slice_, day)
                    cell = (keys[0], field_)
                    hash_counters[cell] = hash_counters.get(cell, 0) + delta
                    month_cell = (keys[1], slot)
                    counters[month_cell] = counters.get(month_cell, 0) + delta
        if first_day is not None and last_day is not None:
            meta = self.layout.meta(tenant_id)
            writes.hash_min(meta, "first_day", first_day)
            writes.hash_max(meta, "last_day", last_day)
