"""How facts become counter cells: the write side of the projection, as plain data.

`BatchWrites` collects everything one poll batch changes, already merged (two
follows of the same employee on the same day are one increment of 2), so the
store can apply a batch in one atomic call. Nothing here does I/O.

A fact counts in every slice its customer is in: in the `*` slice, a day, a month
and an all-time counter and, for dated kinds, the three latest-second maxima (raw
seconds); in a filter slice, one record (day of month, slot) of the month's log,
appended with the batch's other records of that month in one go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from projector.calendar import LocalCalendar
from projector.codec import DAY_SHIFT, MAX_SLOTS, CellKind
from projector.facts import ALL, DATED_KINDS, KINDS, Fact, Kind
from projector.layout import Layout

Ints = NDArray[np.int64]

_DAY, _MONTH, _TOTAL, _DAY_MAX, _MONTH_MAX, _TOTAL_MAX, _LOG, _LOG_TAIL = range(8)
"""Key families a cell can be in; with a slice and a bucket they spell one key."""
_SLOT_LIMIT = (1 << DAY_SHIFT) - 1
_DATED = np.array([int(kind) for kind in DATED_KINDS], dtype=np.int64)


@dataclass(slots=True)
class CellRun:
    """Merged cells of one kind, sorted by key: `keys[i]` owns the cells from `starts[i]` to
    the next start. Kept as arrays: the codec packs a whole run at once."""

    kind: CellKind
    keys: list[str]
    starts: list[int]
    slots: Ints
    values: Ints
    tails: list[str] = field(default_factory=list)
    """LOG runs: the tail key each record set is appended to (`keys` are the bases)."""


@dataclass(slots=True)
class BatchWrites:
    """Merged writes of one batch; `checks` are (key, field) -> value expected before writing."""

    checks: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    """(key, field) -> expected; field "" means the key is a plain string."""
    values: dict[str, bytes] = field(default_factory=dict)
    """Plain string keys to SET (customer states)."""
    hash_sets: dict[tuple[str, str], bytes] = field(default_factory=dict)
    profiles: dict[tuple[str, str], bytes] = field(default_factory=dict)
    """The employee profiles among `hash_sets`: what the next batch's fold starts from."""
    hash_counters: dict[tuple[str, str], int] = field(default_factory=dict)
    hash_minima: dict[tuple[str, str], int] = field(default_factory=dict)
    hash_maxima: dict[tuple[str, str], int] = field(default_factory=dict)
    members: dict[tuple[str, str], bool] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)
    """Facts recorded by `CellProjection.facts`, not yet expanded into cells (`flush`)."""
    cells: list[CellRun] = field(default_factory=list)
    """Counter, log and latest-date cells expanded by `flush` (see codec for their binary
    form)."""

    def expect(self, key: str, field_: str, value: bytes | None) -> None:
        """Record the first value seen: the batch applies only if it is still there."""
        self.checks.setdefault((key, field_), value)

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
            + len(self.hash_counters)
            + len(self.hash_minima)
            + len(self.hash_maxima)
            + len(self.members)
            + sum(len(run.slots) for run in self.cells)
        )


class CellProjection:
    """Expands signed facts of customers into the cells of the slices they are counted in.

    `facts` records each fact once, with the set of slices it goes to; `flush` expands
    and merges a whole batch's facts with numpy. Expanding fact by fact and slice by
    slice in Python was the fold's largest cost (a third of it at S1); now Python
    touches each fact once and each distinct cell once."""

    def __init__(self, layout: Layout, calendar: LocalCalendar) -> None:
        self.layout = layout
        self.calendar = calendar
        self._slices: dict[tuple[int, str], int] = {}
        """(tenant, slice) -> slice id, an index into the two lists below."""
        self._slice_tenant: list[int] = []
        self._slice_name: list[str] = []
        self._groups: dict[tuple[int, frozenset[str]], int] = {}
        """(tenant, slice set) -> group id, an index into `_members`."""
        self._members: list[list[int]] = []
        self._keys: dict[tuple[int, int, int], str] = {}
        """(family, slice id, bucket) -> key, memoised: spelling keys is costly."""

    def _slice_id(self, tenant_id: int, slice_: str) -> int:
        found = self._slices.get((tenant_id, slice_))
        if found is None:
            found = self._slices[(tenant_id, slice_)] = len(self._slice_name)
            self._slice_tenant.append(tenant_id)
            self._slice_name.append(slice_)
        return found

    def facts(
        self,
        writes: BatchWrites,
        tenant_id: int,
        index: Mapping[int, int],
        facts: Iterable[tuple[Fact, int]],
        slices: Iterable[str],
        sign: int = 1,
    ) -> None:
        """Record facts (times `sign`) as counted in `slices`; `flush` makes them cells."""
        chosen = slices if isinstance(slices, frozenset) else frozenset(slices)
        if not chosen:
            return
        group = self._groups.get((tenant_id, chosen))
        if group is None:
            group = self._groups[(tenant_id, chosen)] = len(self._members)
            self._members.append([self._slice_id(tenant_id, s) for s in sorted(chosen)])
        pending = writes.pending
        for (employee_id, kind, second), count in facts:
            pending += (group, index[employee_id], kind, second, sign * count)

    def flush(self, writes: BatchWrites) -> None:
        """Expand every recorded fact into its cells, merged into `writes.cells`."""
        if not writes.pending:
            return
        rows = np.array(writes.pending, dtype=np.int64).reshape(-1, 5)
        writes.pending = []
        used, group = np.unique(rows[:, 0], return_inverse=True)
        group = group.reshape(-1)
        listed = [self._members[g] for g in used.tolist()]
        sizes = np.array([len(m) for m in listed], dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        flat = [s for m in listed for s in m]
        members = np.array(flat, dtype=np.int64)
        member_is_all = np.array([self._slice_name[s] == ALL for s in flat], dtype=bool)
        _, position, kind, second, delta = rows.T
        per_fact = sizes[group]
        fact_of = np.repeat(np.arange(len(rows)), per_fact)
        within = np.arange(len(fact_of)) - np.repeat(np.cumsum(per_fact) - per_fact, per_fact)
        member_at = starts[group][fact_of] + within  # a row per (fact, its slice)
        slice_id = members[member_at]
        day = self.calendar.days(second)
        month = self.calendar.months(day)
        slot = position * KINDS + kind
        is_all = member_is_all[member_at]

        every, in_all = fact_of[is_all], slice_id[is_all]
        if len(every):
            self._flush_all(writes, every, in_all, rows.T[1:], day, month, slot)
        some, in_filter = fact_of[~is_all], slice_id[~is_all]
        if len(some):
            self._pack_log(writes, in_filter, day[some], month[some], slot[some], delta[some])
        if len(self._members) > 100_000 or len(self._keys) > 400_000:
            self._groups.clear()
            self._members.clear()
            self._keys.clear()

    def _flush_all(
        self,
        writes: BatchWrites,
        every: Ints,
        in_all: Ints,
        columns: Ints,
        day: Ints,
        month: Ints,
        slot: Ints,
    ) -> None:
        """The `*` slice's cells of the facts `every`: day, month and total counters; for
        dated kinds the latest dates; the tenant's first and last day."""
        position, kind, second, delta = columns
        no_bucket = np.zeros(len(every), np.int64)
        levels = ((_DAY, day[every]), (_MONTH, month[every]), (_TOTAL, no_bucket))
        for family, buckets in levels:
            self._pack(writes, CellKind.COUNTER, family, in_all, buckets, slot[every], delta[every])
        growing = delta[every] > 0
        dated = growing & np.isin(kind[every], _DATED)
        if dated.any():
            at, of = every[dated], in_all[dated]
            max_at = position[at] * MAX_SLOTS + (kind[at] != Kind.ADDED)
            latest = second[at]
            for family, buckets in (
                (_DAY_MAX, day[at]),
                (_MONTH_MAX, month[at]),
                (_TOTAL_MAX, np.zeros(len(at), np.int64)),
            ):
                self._pack(writes, CellKind.LATEST, family, of, buckets, max_at, latest)
        if growing.any():
            grown = in_all[growing]  # the `*` slice ids: one per tenant
            days = day[every[growing]]
            for slice_ in np.unique(grown).tolist():
                mine = days[grown == slice_]
                meta = self.layout.meta(self._slice_tenant[slice_])
                writes.hash_min(meta, "first_day", int(mine.min()))
                writes.hash_max(meta, "last_day", int(mine.max()))

    def _key(self, family: int, slice_id: int, bucket: int) -> str:
        key = self._keys.get((family, slice_id, bucket))
        if key is None:
            layout = self.layout
            tenant, name = self._slice_tenant[slice_id], self._slice_name[slice_id]
            if family == _DAY:
                key = layout.day(tenant, bucket)
            elif family == _MONTH:
                key = layout.month(tenant, bucket)
            elif family == _TOTAL:
                key = layout.total(tenant)
            elif family == _DAY_MAX:
                key = layout.day_max(tenant, bucket)
            elif family == _MONTH_MAX:
                key = layout.month_max(tenant, bucket)
            elif family == _LOG:
                key = layout.log(tenant, name, bucket)
            elif family == _LOG_TAIL:
                key = layout.log_tail(tenant, name, bucket)
            else:
                key = layout.total_max(tenant)
            self._keys[(family, slice_id, bucket)] = key
        return key

    def _pack_log(
        self, writes: BatchWrites, slice_id: Ints, day: Ints, month: Ints, slot: Ints, delta: Ints
    ) -> None:
        """Filter facts as one LOG run: per (slice, month) key, one record per (day, slot)
        cell, summed over the batch, cells that cancel out left out."""
        if slot.max() > _SLOT_LIMIT or month.min() < 0 or month.max() >= 1 << 20:
            raise ValueError("a filter cell outside the log code (employee index or month)")
        months, month_at = np.unique(month, return_inverse=True)
        starts = np.array([self.calendar.first_day_of_month(m) for m in months.tolist()])
        code = (day - starts[month_at.reshape(-1)]) << DAY_SHIFT | slot
        pairs, key_at = np.unique(slice_id << 20 | month, return_inverse=True)
        cell = key_at.reshape(-1) << 32 | code
        order = np.argsort(cell)
        cell = cell[order]
        cell_starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        sums = np.add.reduceat(delta[order], cell_starts)
        kept = sums != 0
        cell, sums = cell[cell_starts][kept], sums[kept]
        if not len(cell):
            return
        key_of = cell >> 32
        key_starts = np.flatnonzero(np.r_[True, key_of[1:] != key_of[:-1]])
        slices = (pairs[key_of[key_starts]] >> 20).tolist()
        buckets = (pairs[key_of[key_starts]] & 0xFFFFF).tolist()
        keys = [self._key(_LOG, s, b) for s, b in zip(slices, buckets, strict=True)]
        tails = [self._key(_LOG_TAIL, s, b) for s, b in zip(slices, buckets, strict=True)]
        run = CellRun(CellKind.LOG, keys, key_starts.tolist(), cell & 0xFFFFFFFF, sums, tails)
        writes.cells.append(run)

    def _pack(
        self,
        writes: BatchWrites,
        kind: CellKind,
        family: int,
        slice_id: Ints,
        bucket: Ints,
        slot: Ints,
        values: Ints,
    ) -> None:
        """Merge rows into one cell per (key, slot) and append them as one run: counters and
        day fields sum the values (cells that cancel out are left out), latest dates keep the
        greatest."""
        order, slice_id, bucket, slot, new_cell = _sorted_cells(slice_id, bucket, slot)
        cell_starts = np.flatnonzero(new_cell)
        if kind is CellKind.LATEST:
            reduced = np.maximum.reduceat(values[order], cell_starts)
        else:
            reduced = np.add.reduceat(values[order], cell_starts)
        slice_id, bucket, slot = slice_id[cell_starts], bucket[cell_starts], slot[cell_starts]
        if kind is not CellKind.LATEST:
            kept = reduced != 0
            slice_id, bucket, slot, reduced = (
                slice_id[kept],
                bucket[kept],
                slot[kept],
                reduced[kept],
            )
        if not len(slot):
            return
        new_key = np.ones(len(slot), dtype=bool)
        new_key[1:] = (slice_id[1:] != slice_id[:-1]) | (bucket[1:] != bucket[:-1])
        key_starts = np.flatnonzero(new_key)
        keys = [
            self._key(family, slice_, bucket_)
            for slice_, bucket_ in zip(
                slice_id[key_starts].tolist(), bucket[key_starts].tolist(), strict=True
            )
        ]
        writes.cells.append(CellRun(kind, keys, key_starts.tolist(), slot, reduced))


def _sorted_cells(slice_id: Ints, bucket: Ints, slot: Ints) -> tuple[Ints, Ints, Ints, Ints, Ints]:
    """(order, slice ids, buckets, slots sorted by cell, True where a cell starts)."""
    if len(slot) and (
        slot.max() >= 1 << 24
        or bucket.min() < 0
        or bucket.max() >= 1 << 16
        or slice_id.max() >= 1 << 23
    ):  # outside the packed code's fields (a vast tenant, a day before 1970): sort by columns
        order = np.lexsort((slot, bucket, slice_id))
        slice_id, bucket, slot = slice_id[order], bucket[order], slot[order]
        new_cell = np.ones(len(order), dtype=bool)
        new_cell[1:] = (slice_id[1:] != slice_id[:-1]) | (bucket[1:] != bucket[:-1])
        new_cell[1:] |= slot[1:] != slot[:-1]
        return order, slice_id, bucket, slot, new_cell
    code = slice_id << 40 | bucket << 24 | slot
    order = np.argsort(code)
    code = code[order]
    new_cell = np.ones(len(order), dtype=bool)
    new_cell[1:] = code[1:] != code[:-1]
    return order, code >> 40, (code >> 24) & 0xFFFF, code & 0xFFFFFF, new_cell
