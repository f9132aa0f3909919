"""One poll batch's way to Redis: decode -> read-ahead -> fold -> commit.

Batch N+1's states are read while Redis is idle, then batch N is sent, then N+1 is
folded while Redis applies N, from the states N writes (`carried`): Redis serves one
call at a time, so a read sent after N's write would wait behind it. The commit is one
atomic, fenced write in a writer thread; a state another writer changed meanwhile makes
the applier fold that batch again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from events.decode import Poison, decode
from events.schema import Event
from projector.applier import Applier, Carried, OffsetMove
from projector.cells import BatchWrites
from projector.control import META_DUPLICATES
from projector.source import Record


@dataclass(slots=True)
class Batch:
    """A decoded poll batch on its way to Redis."""

    events: list[Event] = field(default_factory=list)
    poison: list[tuple[Record, Poison]] = field(default_factory=list)
    offsets: dict[int, OffsetMove] = field(default_factory=dict)
    riders: dict[tuple[str, str], bytes] = field(default_factory=dict)
    """Hash fields set in the batch's own write (freshness, ready marks: see readiness)."""
    ends: dict[int, int] = field(default_factory=dict)
    """End offsets of the partitions as the poll that brought the batch saw them."""
    duplicates: int = 0
    write_seconds: float | None = None


def decode_batch(
    records: Mapping[int, Sequence[Record]],
    expected: dict[int, int | None],
    tenant: int | None = None,
) -> Batch:
    """Decode a poll and name its offsets (expected = what the previous batch wrote, which
    `expected` is moved on from); with `tenant`, only its events and no poison are kept."""
    batch = Batch()
    for partition, records_ in records.items():
        for record in records_:
            verdict = decode(record.value)
            if isinstance(verdict, Poison):
                if tenant is None:
                    batch.poison.append((record, verdict))
            elif tenant is None or verdict.tenant_id == tenant:
                batch.events.append(verdict)
        new = records_[-1].offset + 1
        batch.offsets[partition] = OffsetMove(expected.get(partition), new)
        expected[partition] = new  # the next batch builds on this one
    return batch


@dataclass(slots=True)
class Folded:
    applier: Applier
    writes: BatchWrites
    fenced: set[tuple[str, str]]
    batch: Batch


def _commit(folded: Folded) -> Batch:
    """The writer thread's part: one atomic Redis call (re-folded if a state raced)."""
    batch = folded.batch
    started = time.perf_counter()
    folded.applier.commit(
        folded.writes, folded.fenced, batch.events, batch.offsets, len(batch.poison)
    )
    batch.write_seconds = time.perf_counter() - started
    return batch


class Pipeline:
    """Read-ahead, fold and commit, with one batch in Redis while the next one is folded.
    Errors of a commit surface in the call that waits for it (`push` or `drain`)."""

    def __init__(self, on_done: Callable[[Batch], None]) -> None:
        self.on_done = on_done
        self.carried: Carried | None = None
        """What the batch in flight writes: the next batch folds from it, not from Redis."""
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-writer")
        self._pending: Future[Batch] | None = None
        """The batch Redis is applying."""
        self._unsent: Folded | None = None
        """The batch folded last, not yet sent: the next batch's states are read before it."""

    def push(self, applier: Applier, batch: Batch) -> None:
        self._finish()  # the batch before the unsent one: no longer carried
        snapshot = applier.read(batch.events, self.carried)
        self._send()
        writes, fenced = applier.fold(batch.events, batch.offsets, len(batch.poison), snapshot)
        writes.hash_sets.update(batch.riders)
        batch.duplicates = sum(
            count for (_key, name), count in writes.hash_counters.items() if name == META_DUPLICATES
        )
        self.carried = Applier.carried_by(writes)
        self._unsent = Folded(applier, writes, fenced, batch)

    def drain(self) -> None:
        """Send the folded batch and wait until Redis has applied it."""
        self._send()
        self._finish()

    def reset(self) -> None:
        """Forget the batches in hand (after a fence or a Redis error: they are re-read)."""
        self._pending = self._unsent = None
        self.carried = None

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    def _finish(self) -> None:
        if self._pending is not None:
            done, self._pending = self._pending, None
            self.on_done(done.result())

    def _send(self) -> None:
        if self._unsent is not None:
            self._finish()
            folded, self._unsent = self._unsent, None
            self._pending = self._writer.submit(_commit, folded)
