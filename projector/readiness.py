"""Freshness and completeness of the version a runner writes (the contract in projector/control).

Per version, the freshness hash (`Layout.fresh_key`) holds each partition's end offset as
last seen (`end:<p>`), the end offset when the version started being built from the log
(`target:<p>`, first writer wins) and when a batch was last applied (`applied_at`). The
ready hash (`Layout.ready_key`) marks a partition once its applied offset reached its
target: with every partition marked the version is *complete*, which is what the API
checks before answering from it.

These fields ride in the batch's own atomic, fenced write (`ride`), so they cost no round
trip and can never describe a state that was not written; between batches (idle polls)
`idle_writes` refreshes them, fenced the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from projector import control
from projector.cells import BatchWrites
from projector.errors import Fenced
from projector.layout import Layout
from projector.role import Fence
from projector.store import ProjectorStore

IDLE_REFRESH_S = 5.0
"""An idle instance at the end of its partitions refreshes `applied_at` at most this often."""


def now_ms() -> int:
    return int(time.time() * 1000)


class Freshness:
    """What this instance knows of its version's freshness hash, and the fields it writes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.targets: dict[int, int] = {}
        self.partitions = 0
        """Partitions of the topic (the ready hash's `partitions`); 0 until known."""
        self.ends: dict[int, int] = {}
        self._clock = clock
        self._idle_written: tuple[dict[int, int], frozenset[int]] | None = None
        self._refreshed = float("-inf")

    def forget(self, partitions: Iterable[int] = ()) -> None:
        """Partitions revoked, or (with none given) another version: learn them again."""
        chosen = list(partitions)
        if not chosen:
            self.targets.clear()
            self.ends.clear()
        for partition in chosen:
            self.targets.pop(partition, None)
            self.ends.pop(partition, None)
        self._idle_written = None

    def missing(self, assigned: Iterable[int]) -> list[int]:
        """Assigned partitions whose target this instance has not learnt yet."""
        return [p for p in assigned if p not in self.targets]

    def capture(
        self,
        store: ProjectorStore,
        layout: Layout,
        fences: Sequence[Fence],
        ends: Mapping[int, int],
    ) -> None:
        """Learn the stored targets; set the missing ones to `ends` (HSETNX: first writer wins),
        fenced like a batch. Fenced when the version is no longer ours."""
        for _attempt in range(3):
            stored = control.freshness(store.client.hgetall(layout.fresh_key))  # type: ignore[arg-type]
            self.targets.update(stored.targets)
            missing = [p for p in ends if p not in self.targets]
            if not missing:
                return
            writes = _fenced(fences)
            for partition in missing:
                field = (layout.fresh_key, control.target_field(partition))
                writes.expect(*field, None)
                writes.hash_sets[field] = str(ends[partition]).encode()
            failed = store.commit(writes)
            if failed is None:
                self.targets.update({p: ends[p] for p in missing})
                return
            if failed[0] != layout.fresh_key:
                raise Fenced(f"{failed[0]} {failed[1]} changed under us")
            # another instance set a target meanwhile: read them again

    def complete(self, applied: Mapping[int, int | None]) -> list[int]:
        """Partitions whose applied offset reached their target."""
        return [
            p
            for p, offset in applied.items()
            if control.partition_complete(offset, self.targets.get(p))
        ]

    def ride(
        self,
        writes: BatchWrites,
        layout: Layout,
        applied: Mapping[int, int | None],
        ends: Mapping[int, int],
    ) -> None:
        """Add the freshness fields and the ready marks this batch earns to its write."""
        self.ends.update(ends)
        key = layout.fresh_key
        for partition, end in ends.items():
            writes.hash_sets[(key, control.end_field(partition))] = str(end).encode()
        writes.hash_sets[(key, control.FRESH_APPLIED_AT)] = str(now_ms()).encode()
        _marks(writes, layout, self.complete(applied), self.partitions)

    def idle_writes(
        self,
        layout: Layout,
        fences: Sequence[Fence],
        applied: Mapping[int, int | None],
        ends: Mapping[int, int],
        caught_up: Sequence[int],
    ) -> BatchWrites | None:
        """Between batches: ends, marks of caught-up or complete partitions, and `applied_at`
        when every owned partition is at its end; None when nothing changed and no refresh is
        due."""
        self.ends.update(ends)
        marked = frozenset(caught_up) | frozenset(self.complete(applied))
        at_end = bool(applied) and set(applied) <= set(caught_up)
        now = self._clock()
        refresh = at_end and now - self._refreshed >= IDLE_REFRESH_S
        if self._idle_written == (dict(ends), marked) and not refresh:
            return None
        writes = _fenced(fences)
        for partition, end in ends.items():
            writes.hash_sets[(layout.fresh_key, control.end_field(partition))] = str(end).encode()
        if at_end:
            writes.hash_sets[(layout.fresh_key, control.FRESH_APPLIED_AT)] = str(now_ms()).encode()
            self._refreshed = now
        _marks(writes, layout, sorted(marked), self.partitions)
        self._idle_written = (dict(ends), marked)
        return writes


def _fenced(fences: Sequence[Fence]) -> BatchWrites:
    writes = BatchWrites()
    for key, field, value in fences:
        writes.expect(key, field, value)
    return writes


def _marks(writes: BatchWrites, layout: Layout, partitions: Iterable[int], count: int) -> None:
    chosen = list(partitions)
    if not chosen or count <= 0:
        return
    key = layout.ready_key
    writes.hash_sets[(key, control.READY_PARTITIONS)] = str(count).encode()
    for partition in chosen:
        writes.hash_sets[(key, str(partition))] = b"1"
