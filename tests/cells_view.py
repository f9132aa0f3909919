"""A batch's cells read back as (key, slot) -> value, so tests can assert on single cells."""

from __future__ import annotations

from dataclasses import dataclass, field

from projector.cells import BatchWrites
from projector.codec import CellKind


@dataclass
class CellsView:
    """Counter cells by (key, slot), filter log records by (base key, code), hash counters by
    (key, field), latest-date cells by (key, slot), and the tenant meta extremes: what a
    batch adds to the projection's cells."""

    counters: dict[tuple[str, int], int] = field(default_factory=dict)
    logs: dict[tuple[str, int], int] = field(default_factory=dict)
    tails: dict[str, str] = field(default_factory=dict)
    """base key -> the tail key its records are appended to."""
    hash_counters: dict[tuple[str, str], int] = field(default_factory=dict)
    maxima: dict[tuple[str, int], int] = field(default_factory=dict)
    hash_minima: dict[tuple[str, str], int] = field(default_factory=dict)
    hash_maxima: dict[tuple[str, str], int] = field(default_factory=dict)


def unpacked(writes: BatchWrites) -> CellsView:
    """The cells of `writes` (its runs and its hash counters) as one view."""
    view = CellsView(
        hash_counters=dict(writes.hash_counters),
        hash_minima=dict(writes.hash_minima),
        hash_maxima=dict(writes.hash_maxima),
    )
    for run in writes.cells:
        ends = [*run.starts[1:], len(run.slots)]
        if run.kind is CellKind.LOG:
            view.tails.update(zip(run.keys, run.tails, strict=True))
        for key, start, end in zip(run.keys, run.starts, ends, strict=True):
            slots, values = run.slots[start:end].tolist(), run.values[start:end].tolist()
            for slot, value in zip(slots, values, strict=True):
                if run.kind is CellKind.COUNTER:
                    view.counters[(key, slot)] = view.counters.get((key, slot), 0) + value
                elif run.kind is CellKind.LOG:
                    view.logs[(key, slot)] = view.logs.get((key, slot), 0) + value
                else:
                    view.maxima[(key, slot)] = max(view.maxima.get((key, slot), -1), value)
    return view
