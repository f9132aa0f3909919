"""Apply a batch of decoded events with its Kafka offsets: read, fold, write-if-unchanged.

The offsets of the batch's partitions are written in the same atomic call as the
state, and checked against what this instance last saw: if another instance has
moved a partition on (a rebalance happened while we worked), the batch is
dropped whole and the caller re-seeks. A changed customer state with unchanged
offsets (two partitions holding the same customer) is simply retried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from events.schema import Event
from projector.batch import Snapshot, fold_batch, read_request
from projector.cells import BatchWrites, CellProjection
from projector.errors import Conflicting, Fenced, StoreError
from projector.store import ProjectorStore

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Carried:
    """States a folded batch writes (customer keys; profile (key, field)s): the next batch
    folds from these, since the batch may still be on its way to Redis."""

    values: dict[str, bytes]
    fields: dict[tuple[str, str], bytes]


@dataclass(frozen=True, slots=True)
class OffsetMove:
    expected: int | None
    new: int


class Applier:
    def __init__(
        self,
        store: ProjectorStore,
        projection: CellProjection,
        topic: str,
        fences: Sequence[tuple[str, str, bytes | None]] = (),
    ) -> None:
        """`fences`: (key, field, value) that must still hold for a write to land, e.g. the
        control hash still naming this version as current."""
        self.store = store
        self.projection = projection
        self.topic = topic
        self.fences = tuple(fences)

    def read(self, events: Sequence[Event], carried: Carried | None = None) -> Snapshot:
        """The states a batch folds from; `carried` = values the batches before this one write
        (they may still be in flight), used instead of what Redis holds for those keys."""
        layout = self.projection.layout
        snapshot = self.store.snapshot(read_request(events))
        if carried is not None:
            for customer in list(snapshot.customers):
                value = carried.values.get(layout.customer(*customer))
                if value is not None:
                    snapshot.customers[customer] = (value, value)
                    snapshot.parsed.pop(customer, None)
            for tenant, employee in list(snapshot.profiles):
                value = carried.fields.get((layout.profiles(tenant), str(employee)))
                if value is not None:
                    snapshot.profiles[(tenant, employee)] = value
        return snapshot

    def fold(
        self,
        events: Sequence[Event],
        offsets: Mapping[int, OffsetMove] | None = None,
        dead_letters: int = 0,
        snapshot: Snapshot | None = None,
    ) -> tuple[BatchWrites, set[tuple[str, str]]]:
        """Fold one batch into its writes, from `snapshot` (else read now)."""
        layout = self.projection.layout
        if snapshot is None:
            snapshot = self.read(events)
        writes = fold_batch(events, snapshot, self.projection)
        fenced_checks = self._add_offsets(writes, layout.offsets(self.topic), offsets or {})
        for key, field, value in self.fences:
            writes.expect(key, field, value)
            fenced_checks.add((key, field))
        if dead_letters:
            writes.hash_count(layout.dead_letters(self.topic), "count", dead_letters)
        return writes, fenced_checks

    @staticmethod
    def carried_by(writes: BatchWrites) -> Carried:
        """What a folded batch will write that the next batch's fold must start from."""
        return Carried(dict(writes.values), dict(writes.profiles))

    def commit(
        self,
        writes: BatchWrites,
        fenced_checks: set[tuple[str, str]],
        events: Sequence[Event],
        offsets: Mapping[int, OffsetMove] | None = None,
        dead_letters: int = 0,
    ) -> None:
        """Write a folded batch; when a state it read changed meanwhile, fold it again."""
        failed = self.store.commit(writes)
        if failed is None:
            self.compact()
            return
        if failed in fenced_checks:
            raise Fenced(f"{failed[0]} {failed[1]} changed under us")
        log.info("state changed during batch, folding it again")
        self.apply(events, offsets, dead_letters)

    def apply(
        self,
        events: Sequence[Event],
        offsets: Mapping[int, OffsetMove] | None = None,
        dead_letters: int = 0,
    ) -> None:
        """Read, fold and write one batch, retrying while other writers change its states."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            writes, fenced_checks = self.fold(events, offsets, dead_letters)
            failed = self.store.commit(writes)
            if failed is None:
                self.compact()
                return
            if failed in fenced_checks:
                raise Fenced(f"{failed[0]} {failed[1]} changed under us")
            log.info("state changed during batch, retrying (attempt %d)", attempt)
        raise Conflicting(f"batch kept conflicting after {MAX_ATTEMPTS} attempts")

    def compact(self) -> None:
        """Compact the filter month logs the last write found due: an optimisation only (readers
        sum base and tail), so a failure is logged and the next write reports them again."""
        due, self.store.due = self.store.due, []
        if not due:
            return
        try:
            self.store.compact_logs(due)
        except StoreError as exc:
            log.warning("log compaction skipped: %s", exc)

    @staticmethod
    def _add_offsets(
        writes: BatchWrites, key: str, offsets: Mapping[int, OffsetMove]
    ) -> set[tuple[str, str]]:
        checks = set()
        for partition, move in offsets.items():
            field = str(partition)
            writes.expect(
                key, field, None if move.expected is None else str(move.expected).encode()
            )
            writes.hash_sets[(key, field)] = str(move.new).encode()
            checks.add((key, field))
        return checks
