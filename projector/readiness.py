"""Readiness marks: a partition is marked in the version's ready hash once caught up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from projector.cells import BatchWrites
from projector.layout import Layout
from projector.role import Fence
from projector.store import ProjectorStore


class Readiness:
    """Which partitions this instance has marked ready in the version it writes."""

    def __init__(self) -> None:
        self.marked: set[int] = set()

    def forget(self, partitions: Iterable[int] = ()) -> None:
        """Partitions revoked (or, with none given, a new version): mark them again."""
        chosen = list(partitions)
        if chosen:
            self.marked.difference_update(chosen)
        else:
            self.marked.clear()

    def mark(
        self,
        store: ProjectorStore,
        layout: Layout,
        fences: Sequence[Fence],
        caught_up: Sequence[int],
        partitions: int,
    ) -> None:
        """Fenced like a batch: a switch may have made this version old (and removed its keys)
        since the last check, and a plain HSET would leave a stray key of it behind."""
        done = [p for p in caught_up if p not in self.marked]
        if not done:
            return
        key = layout.ready_key
        marks = BatchWrites()
        for fence_key, fence_field, value in fences:
            marks.expect(fence_key, fence_field, value)
        marks.hash_sets[(key, "partitions")] = str(partitions).encode()
        for partition in done:
            marks.hash_sets[(key, str(partition))] = b"1"
        if store.commit(marks) is None:
            self.marked.update(done)
