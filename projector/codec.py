"""The projection's binary formats, in one place for the writer and the readers.

Counter blobs (the `*` slice) hold a big-endian i32 per (employee index, kind) at
slot `index * KINDS + kind`; latest-date blobs a big-endian u32 raw second per
(employee index, MAX_SLOTS), meaningful only where the same bucket's count of that
kind is above zero (so every second 0 .. 2**32 - 1 is a date). A filter slice's
month is a log of 6-byte records (LOG_RECORD: code u32, value i16), code =
day_of_month << 27 | slot: a canonical base (`fl`, `compact`) plus an appended
tail (`ft`); a cell is the sum of its code's records over both. The write script
(write.lua) takes a batch as opcodes B/X carrying (slot u32, value) pairs and P
carrying log records: `encode_writes` is its only author. The bulk rebuild packs
whole values with `pack_counter_blob`, `pack_latest_blob` and `compact`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from projector.facts import Kind

if TYPE_CHECKING:
    from projector.cells import BatchWrites, CellRun

Ints = NDArray[np.int64]

COUNTER = ">i4"
"""dtype of a counter blob's cell."""
LATEST = ">u4"
"""dtype of a latest-date blob's cell."""
MAX_SLOTS = 2
"""Latest-date blobs hold [employee index][ADDED latest, FOLLOW latest]."""


LOG_RECORD = np.dtype([("c", ">u4"), ("v", ">i2")])
"""A filter month log's record: code (day_of_month << 27 | slot) and a signed delta."""
LOG_BYTES = LOG_RECORD.itemsize
DAY_SHIFT = 27
"""A log code's day of month (0-based, < 31) sits above the slot's 27 bits."""
SLOT_MASK = (1 << DAY_SHIFT) - 1
TAIL_MIN = 1024
"""A log tail is reported for compaction once longer than max(TAIL_MIN, base length / 4)."""
RECORD_MAX = 32_767
"""The largest |value| of one record: a cell beyond it is split into several records."""


class CellKind(enum.IntEnum):
    COUNTER = 0
    """A counter blob cell: values of a batch add up."""
    LOG = 1
    """A filter month log record (slot = log code): values add up; appended to the tail."""
    LATEST = 2
    """A latest-date blob cell (raw second): the greatest value stays."""


_OPCODE = {CellKind.COUNTER: "B", CellKind.LOG: "P", CellKind.LATEST: "X"}


def max_slot(kind: Kind) -> int:
    """Which of an employee's MAX_SLOTS a dated kind's latest second is kept in."""
    return 0 if kind == Kind.ADDED else 1


# --- read side --------------------------------------------------------------------------------


def counter_cells(blob: bytes) -> Ints:
    return np.frombuffer(blob, dtype=COUNTER).astype(np.int64)


def latest_cells(blob: bytes) -> Ints:
    return np.frombuffer(blob, dtype=LATEST).astype(np.int64)


def log_code(day_of_month: Ints | int, slot: Ints | int) -> Any:
    """A log record's code: 0-based day of month (< 31) above the slot (< 2**27)."""
    return (np.asarray(day_of_month, np.int64) << DAY_SHIFT) | np.asarray(slot, np.int64)


def log_cells(*blobs: bytes | None) -> tuple[Ints, Ints]:
    """(codes, values) of every record of the blobs, in the order stored."""
    parts = [np.frombuffer(blob, dtype=LOG_RECORD) for blob in blobs if blob]
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty
    records = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return records["c"].astype(np.int64), records["v"].astype(np.int64)


def _net(codes: Ints, values: Ints) -> tuple[Ints, Ints]:
    """One (code, sum) per distinct code, sorted by code, zeros dropped."""
    if not len(codes):
        return codes, values
    order = np.argsort(codes, kind="stable")
    codes, values = codes[order], values[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sums = np.add.reduceat(values, starts)
    kept = sums != 0
    return codes[starts][kept], sums[kept]


def log_records(*blobs: bytes | None) -> tuple[Ints, Ints, Ints]:
    """(day of month, slot, net value) per non-zero cell of a month's log (base + tail)."""
    codes, values = _net(*log_cells(*blobs))
    return codes >> DAY_SHIFT, codes & SLOT_MASK, values


def _pieces(values: Ints) -> Ints:
    pieces: Ints = np.maximum(1, -(-np.abs(values) // RECORD_MAX))
    return pieces


def split_records(codes: Ints, values: Ints) -> tuple[Ints, Ints]:
    """Each (code, value) as records of |value| <= RECORD_MAX (larger ones repeated)."""
    magnitude = np.abs(values)
    pieces = _pieces(values)
    if (pieces == 1).all():
        return codes, values
    codes = np.repeat(codes, pieces)
    sign = np.repeat(np.sign(values), pieces)
    left = np.repeat(magnitude, pieces)
    within = np.arange(len(codes)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    part = np.minimum(RECORD_MAX, left - within * RECORD_MAX)
    return codes, sign * part


def _records_bytes(codes: Ints, values: Ints) -> bytes:
    records = np.empty(len(codes), dtype=LOG_RECORD)
    records["c"] = codes
    records["v"] = values
    return records.tobytes()


def pack_log(codes: Ints, values: Ints) -> bytes:
    """A canonical log: one record per non-zero cell sorted by code, split past RECORD_MAX."""
    codes, values = np.asarray(codes, np.int64), np.asarray(values, np.int64)
    if len(codes) and (codes.min() < 0 or codes.max() >= 1 << 32):
        raise ValueError("log code outside u32: day of month or slot out of range")
    return _records_bytes(*split_records(*_net(codes, values)))


def compact(*blobs: bytes | None) -> bytes:
    """The canonical log of a month's base and tails: the same bytes in any order or split."""
    return _records_bytes(*split_records(*_net(*log_cells(*blobs))))


def pack_counter_blob(slots: Ints, values: Ints, size: int) -> bytes:
    """A whole counter blob of `size` cells (`slots` distinct; e.g. a bulk rebuild's sums)."""
    cells = np.zeros(size, dtype=COUNTER)
    cells[np.asarray(slots, np.int64)] = values
    return cells.tobytes()


def pack_latest_blob(slots: Ints, seconds: Ints, size: int) -> bytes:
    """A whole latest-date blob of `size` cells: the greatest raw second per slot."""
    cells = np.zeros(size, dtype=np.int64)
    np.maximum.at(cells, np.asarray(slots, np.int64), np.asarray(seconds, np.int64))
    return cells.astype(LATEST).tobytes()


# --- write side: the write script's arguments ---------------------------------------------------


def _log_args(run: CellRun, tails: Sequence[str]) -> list[Any]:
    """One P op per key of a LOG run: its records (merged, zero-free) appended to the tail."""
    bounds = np.array([*run.starts, len(run.slots)], np.int64)
    sizes: Ints = bounds[1:] - bounds[:-1]
    codes, values = split_records(run.slots, run.values)
    if len(codes) != len(run.slots):  # a record split: count each key's records again
        key_of = np.repeat(np.repeat(np.arange(len(sizes)), sizes), _pieces(run.values))
        sizes = np.bincount(key_of, minlength=len(sizes)).astype(np.int64)
    packed = _records_bytes(codes, values)
    ends = (np.cumsum(sizes) * LOG_BYTES).tolist()
    args: list[Any] = []
    start = 0
    for key, tail, end in zip(run.keys, tails, ends, strict=True):
        args += ("P", tail, key, packed[start:end])
        start = end
    return args


def _cell_args(run: CellRun) -> list[Any]:
    """One op per key of a run: all its (slot, value) pairs packed by numpy at once."""
    if run.kind is CellKind.LOG:
        return _log_args(run, run.tails)
    pairs = np.empty((len(run.slots), 2), dtype=LATEST if run.kind is CellKind.LATEST else COUNTER)
    pairs[:, 0] = run.slots
    pairs[:, 1] = run.values
    packed = pairs.tobytes()
    op = _OPCODE[run.kind]
    ends = [*run.starts[1:], len(run.slots)]
    args: list[Any] = []
    for key, start, end in zip(run.keys, run.starts, ends, strict=True):
        payload = packed[start * 8 : end * 8]
        args += (op, key, payload)
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
    if any(run.kind is CellKind.LOG for run in writes.cells):
        args += ["T", TAIL_MIN]
    for run in writes.cells:
        args += _cell_args(run)
    for (key, field), least in writes.hash_minima.items():
        args += ["L", key, field, least]
    for (key, field), greatest in writes.hash_maxima.items():
        args += ["G", key, field, greatest]
    return args
