"""The projection's binary formats, in one place for the writer and the readers.

Counter blobs hold a big-endian i32 per (employee index, kind) at slot
`index * KINDS + kind`; latest-date blobs a big-endian u32 (second + 1, 0 = none)
per (employee index, MAX_SLOTS). A filter slice's day hash holds one field
`index:kind` per cell. The write script (write.lua) takes a batch as opcodes
B/F/X carrying (slot u32, value) pairs: `encode_writes` is its only author.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from projector.facts import KINDS, Kind

if TYPE_CHECKING:
    from projector.cells import BatchWrites, CellRun

Ints = NDArray[np.int64]

COUNTER = ">i4"
"""dtype of a counter blob's cell."""
LATEST = ">u4"
"""dtype of a latest-date blob's cell."""
CELL_BYTES = 4
MAX_SLOTS = 2
"""Latest-date blobs hold [employee index][ADDED latest, FOLLOW latest]."""


class CellKind(enum.IntEnum):
    COUNTER = 0
    """A counter blob cell: values of a batch add up."""
    DAY_FIELD = 1
    """A day-hash field `index:kind`: values add up, a field at zero is removed."""
    LATEST = 2
    """A latest-date blob cell: the greatest value stays."""


_OPCODE = {CellKind.COUNTER: "B", CellKind.DAY_FIELD: "F", CellKind.LATEST: "X"}


def max_slot(kind: Kind) -> int:
    """Which of an employee's MAX_SLOTS a dated kind's latest second is kept in."""
    return 0 if kind == Kind.ADDED else 1


# --- read side --------------------------------------------------------------------------------


def counter_cells(blob: bytes) -> Ints:
    return np.frombuffer(blob, dtype=COUNTER).astype(np.int64)


def latest_cells(blob: bytes) -> Ints:
    return np.frombuffer(blob, dtype=LATEST).astype(np.int64)


def counter_cell(blob: bytes, position: int, kind: Kind) -> int:
    """One counter of a blob (0 past its end: the blob was written before that employee)."""
    start = (position * KINDS + kind) * CELL_BYTES
    if start + CELL_BYTES > len(blob):
        return 0
    return int.from_bytes(blob[start : start + CELL_BYTES], "big", signed=True)


def day_field(position: int, kind: Kind) -> str:
    """The day-hash field of an employee index and kind."""
    return f"{position}:{int(kind)}"


def parse_day_hash(cells: Mapping[bytes, bytes]) -> tuple[Ints, Ints, Ints]:
    """(employee indexes, kinds, counts) of a day hash's 'position:kind' -> count fields.

    Parsed by numpy, not field by field: a popular slice's day hash holds hundreds of
    fields at S1, and a range has up to ~60 loose days."""
    if not cells:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    pairs = np.fromstring(b":".join(cells), dtype=np.int64, sep=":")
    values = np.fromstring(b",".join(cells.values()), dtype=np.int64, sep=",")
    if len(pairs) != 2 * len(cells) or len(values) != len(cells):  # stopped at a bad field
        pairs = np.array([int(part) for part in b":".join(cells).split(b":")], np.int64)
        values = np.array([int(value) for value in cells.values()], np.int64)
    pairs = pairs.reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1], values


# --- write side: the write script's arguments ---------------------------------------------------


def _cell_args(run: CellRun) -> list[Any]:
    """One op per key of a run: all its (slot, value) pairs packed by numpy at once."""
    pairs = np.empty((len(run.slots), 2), dtype=LATEST if run.kind is CellKind.LATEST else COUNTER)
    pairs[:, 0] = run.slots
    pairs[:, 1] = run.values
    packed = pairs.tobytes()
    op = _OPCODE[run.kind]
    ends = [*run.starts[1:], len(run.slots)]
    args: list[Any] = []
    for key, start, end in zip(run.keys, run.starts, ends, strict=True):
        payload = packed[start * 8 : end * 8]
        args += (op, key, KINDS, payload) if op == "F" else (op, key, payload)
    return args


def encode_writes(writes: BatchWrites) -> list[Any]:
    """The write script's argument list (see write.lua): one op per key and kind of write."""
    args: list[Any] = [len(writes.checks)]
    for (key, field), expected in writes.checks.items():
        args += [key, field, "0", b""] if expected is None else [key, field, "1", expected]
    fields: dict[str, list[str]] = {}
    for (key, field), delta in writes.hash_counters.items():
        if delta:
            fields.setdefault(key, []).append(f"{field}={delta}")
    for key, parts in fields.items():
        args += ["H", key, ",".join(parts)]
    for key, value in writes.values.items():
        args += ["V", key, value]
    values: dict[str, list[Any]] = {}
    for (key, field), value in writes.hash_sets.items():
        values.setdefault(key, []).extend((field, value))
    for key, flat_values in values.items():
        args += ["S", key, len(flat_values) // 2, *flat_values]
    sets: dict[tuple[str, bool], list[str]] = {}
    for (key, member), present in writes.members.items():
        sets.setdefault((key, present), []).append(member)
    for (key, present), names in sets.items():
        args += ["A" if present else "R", key, ",".join(names)]
    for run in writes.cells:
        args += _cell_args(run)
    for (key, field), least in writes.hash_minima.items():
        args += ["L", key, field, least]
    for (key, field), greatest in writes.hash_maxima.items():
        args += ["G", key, field, greatest]
    return args
