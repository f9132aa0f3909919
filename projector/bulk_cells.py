"""The bulk rebuild's cells: merged `CellRun`s of many chunks, written whole.

The facts go through the incremental path's own `CellProjection.flush` (same slices,
buckets, slots and key names); this module only sums its runs over every chunk and turns
each key's final cells into one whole value, with the projection's encodings
(`projector.codec`). It is the one place of the bulk rebuild that knows a cell kind's
bytes (PROJECTION_FORMAT 4: dense `*` blobs, filter month logs written as canonical bases
with `codec.pack_log`, so no tail): a format change changes `_value` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from projector.cells import CellRun
from projector.codec import CellKind, pack_counter_blob, pack_latest_blob, pack_log

Ints = NDArray[np.int64]
MERGE_ROWS = 4_000_000
"""Rows held before the parts of a kind are merged into one (bounds memory by distinct cells)."""


class CellTotals:
    """Final cells per key, summed (counters, log records) or maximised (latest dates)."""

    def __init__(self) -> None:
        self.key_ids: dict[str, int] = {}
        self.names: list[str] = []
        self.parts: dict[CellKind, list[tuple[Ints, Ints, Ints]]] = {kind: [] for kind in CellKind}
        self.rows: dict[CellKind, int] = dict.fromkeys(CellKind, 0)

    def _id(self, key: str) -> int:
        found = self.key_ids.get(key)
        if found is None:
            found = self.key_ids[key] = len(self.names)
            self.names.append(key)
        return found

    def add(self, runs: list[CellRun]) -> None:
        for run in runs:
            ids = np.array([self._id(key) for key in run.keys], dtype=np.int64)
            bounds: Ints = np.array([*run.starts, len(run.slots)], dtype=np.int64)
            lengths: Ints = bounds[1:] - bounds[:-1]
            self.parts[run.kind].append((np.repeat(ids, lengths), run.slots, run.values))
            self.rows[run.kind] += len(run.slots)
            if self.rows[run.kind] > MERGE_ROWS:
                self.parts[run.kind] = [self._merged(run.kind)]
                self.rows[run.kind] = len(self.parts[run.kind][0][0])

    def _merged(self, kind: CellKind) -> tuple[Ints, Ints, Ints]:
        """One (key id, slot, value) triple of arrays, one row per cell, sorted by key and slot."""
        parts = self.parts[kind]
        if not parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        keys = np.concatenate([part[0] for part in parts])
        slots = np.concatenate([part[1] for part in parts])
        values = np.concatenate([part[2] for part in parts])
        order = np.lexsort((slots, keys))
        keys, slots, values = keys[order], slots[order], values[order]
        starts = np.ones(len(keys), dtype=bool)
        starts[1:] = (keys[1:] != keys[:-1]) | (slots[1:] != slots[:-1])
        at = np.flatnonzero(starts)
        reduce = np.maximum if kind is CellKind.LATEST else np.add
        reduced = reduce.reduceat(values, at) if len(at) else values
        keys, slots = keys[at], slots[at]
        if kind is not CellKind.LATEST:
            kept = reduced != 0
            keys, slots, reduced = keys[kept], slots[kept], reduced[kept]
        return keys, slots, reduced

    def values(self) -> Iterator[tuple[str, bytes]]:
        """(key, whole value) of every key with a non-zero cell, to SET."""
        for kind in CellKind:
            keys, slots, values = self._merged(kind)
            self.parts[kind] = []
            if not len(keys):
                continue
            bounds = np.flatnonzero(np.diff(keys)) + 1
            starts = np.concatenate(([0], bounds)).tolist()
            ends = [*starts[1:], len(keys)]
            for start, end in zip(starts, ends, strict=True):
                name = self.names[int(keys[start])]
                yield name, _value(kind, slots[start:end], values[start:end])


def _value(kind: CellKind, slots: Ints, values: Ints) -> bytes:
    """A key's whole value from its final cells, in the format the incremental path writes:
    a filter month's canonical log (`fl`, no tail), or a dense `*` blob up to its last cell."""
    if kind is CellKind.LOG:
        return pack_log(slots, values)
    if kind is CellKind.LATEST:
        return pack_latest_blob(slots, values, int(slots[-1]) + 1)
    return pack_counter_blob(slots, values, int(slots[-1]) + 1)
