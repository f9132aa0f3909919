"""Packed cell blocks read back as (key, slot) -> value, so tests can assert on single cells."""

from __future__ import annotations

import dataclasses
import struct

from projector.cells import BatchWrites


def unpacked(writes: BatchWrites) -> BatchWrites:
    """A copy of `writes` with its blocks merged into `counters`, `hash_counters`, `maxima`."""
    copy = dataclasses.replace(
        writes,
        counters=dict(writes.counters),
        hash_counters=dict(writes.hash_counters),
        maxima=dict(writes.maxima),
        blocks=[],
    )
    for block in writes.blocks:
        op, key, payload = block[0], block[1], block[-1]
        assert isinstance(payload, bytes)
        values = struct.unpack(f">{len(payload) // 4}{'I' if op == 'X' else 'i'}", payload)
        for slot, value in zip(values[0::2], values[1::2], strict=True):
            if op == "B":
                copy.counters[(key, slot)] = copy.counters.get((key, slot), 0) + value
            elif op == "F":
                kinds = block[2]
                assert isinstance(kinds, int)
                cell = (key, f"{slot // kinds}:{slot % kinds}")
                copy.hash_counters[cell] = copy.hash_counters.get(cell, 0) + value
            else:
                assert op == "X", op
                copy.maxima[(key, slot)] = max(copy.maxima.get((key, slot), -1), value)
    return copy
