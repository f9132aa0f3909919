"""The projector process: Kafka in, one atomic Redis write per poll batch, Kafka commit after.

Redis holds the authoritative offsets (written with the state they produced);
on every partition assignment the consumer seeks to them, so a crash or a
rebalance at any instant neither loses nor double-counts an event. Offsets are
also committed to the Kafka group afterwards, for standard lag tooling only.

Every write is fenced on the control hash: the live projector writes only while
its version is `current`, a rebuild only while its version is `rebuild`. When a
fence trips (a switch, a flush, a Redis restart) the runner re-reads where it
stands and resumes from the offsets stored there: from the earliest ones when
the state is gone, which is the self-healing rebuild.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import redis
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from custstats.settings import Settings
from events.decode import Poison, decode
from events.schema import Event
from projector.applier import Applier, Fenced, OffsetMove
from projector.calendar import LocalCalendar
from projector.cells import BatchWrites, CellProjection
from projector.layout import ControlLayout, Layout
from projector.store import ProjectorStore, StoreError
from projector.versions import (
    CURRENT,
    EPOCH,
    REBUILD,
    live_layout,
    ready_key,
    tenant_rebuild_field,
)

log = logging.getLogger(__name__)
HEALTH_EVERY = 2.0


GC_THRESHOLDS = (100_000, 50, 100)


def relax_gc() -> None:
    """Make CPython's cyclic collector run rarely in the projector process.

    A batch's fold allocates hundreds of thousands of short-lived, acyclic objects (facts,
    cells, parsed states) that reference counting frees; with the default thresholds
    (700, 10, 10) the collector still scans them, and every cached key, over and over: a
    third of the projector's CPU (bench/fold.py: 108 -> 74 µs per event). Collection stays
    on, so garbage in reference cycles is still reclaimed, only later."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(slots=True)
class Prepared:
    """A decoded poll batch on its way to Redis."""

    events: list[Event] = field(default_factory=list)
    poison: list[tuple[Any, Poison]] = field(default_factory=list)
    offsets: dict[int, OffsetMove] = field(default_factory=dict)
    commits: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


@dataclass(slots=True)
class RunStats:
    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    started: float = field(default_factory=time.monotonic)
    done: bool = False


class _SeekToApplied(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions newly assigned partitions at the offsets stored with the projection."""

    def __init__(self, runner: ProjectorRunner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.runner.expected.pop(tp.partition, None)
            self.runner.ready_marked.discard(tp.partition)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.runner.seek(list(assigned))


def consumer_config(settings: Settings, group: bool = True) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_servers(),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.batch_max_records,
        "request_timeout_ms": 30_000,
    }
    if group:
        config |= {
            "group_id": settings.group_id,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "max_poll_interval_ms": 300_000,
        }
    return config


class ProjectorRunner:
    """The live projector, or (with `rebuild`) a replay into a version that is not current yet."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis | None = None,
        rebuild: Layout | None = None,
        tenant: int | None = None,
    ) -> None:
        """`rebuild`: replay into that version; with `tenant`, only that tenant's events."""
        self.settings = settings
        self.client = client or redis.Redis.from_url(settings.redis())
        self.control = ControlLayout(settings.key_prefix)
        self.rebuild = rebuild
        self.tenant = tenant
        if rebuild is None:
            self.fence_field = CURRENT
        else:
            self.fence_field = REBUILD if tenant is None else tenant_rebuild_field(tenant)
        self.calendar = LocalCalendar(settings.zone)
        self.expected: dict[int, int | None] = {}
        self.ready_marked: set[int] = set()
        self.stop_requested = threading.Event()
        self.stats = RunStats()
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        if rebuild is None:
            self._attach(*live_layout(self.client, settings.key_prefix))
        else:
            self._attach(rebuild, None)

    def _attach(self, layout: Layout, epoch: bytes | None) -> None:
        self.layout = layout
        self.store = ProjectorStore(self.client, layout)
        projection = CellProjection(layout, self.calendar)
        key = self.control.key
        self.fences: list[tuple[str, str, bytes | None]] = [
            (key, self.fence_field, str(layout.version).encode())
        ]
        if self.rebuild is None:
            self.fences.append((key, EPOCH, epoch))
        self.applier = Applier(self.store, projection, self.settings.topic, fences=self.fences)
        self.ready_marked.clear()
        self.carried: dict[str, bytes] = {}
        """What the batch in flight writes: the next batch folds from it, not from Redis."""

    # --- positions ----------------------------------------------------------------------

    def seek(self, partitions: Sequence[TopicPartition]) -> None:
        assert self._consumer is not None
        applied = self.store.applied_offsets(self.settings.topic)
        for tp in partitions:
            offset = applied.get(tp.partition)
            self.expected[tp.partition] = offset
            if offset is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
        log.info(
            "v%d: partitions %s resume at %s",
            self.layout.version,
            sorted(tp.partition for tp in partitions),
            {tp.partition: applied.get(tp.partition, "earliest") for tp in partitions},
        )

    def _reattach(self, reason: str) -> None:
        """Re-read which version we write and where it stands, then seek there."""
        assert self._consumer is not None
        had_state = any(offset is not None for offset in self.expected.values())
        epoch: bytes | None = None
        if self.rebuild is not None:
            held = self.client.hget(self.control.key, self.fence_field)
            if held != str(self.rebuild.version).encode():
                log.warning(
                    "rebuild v%d is no longer the rebuild (%s): stopping",
                    self.rebuild.version,
                    reason,
                )
                self.stop_requested.set()
                return
            layout = self.rebuild
        else:
            layout, epoch = live_layout(self.client, self.settings.key_prefix)
        if layout != self.layout:
            log.warning("now writing %s (was %s): %s", layout, self.layout, reason)
        self._attach(layout, epoch)
        self.store.forget_cache()
        stored = self.store.applied_offsets(self.settings.topic)
        if had_state and not stored:
            log.warning(
                "projection state for topic %s is missing (Redis flushed or restarted without "
                "persistence?): rebuilding v%d from the earliest offsets; /readyz reports not "
                "ready until caught up",
                self.settings.topic,
                layout.version,
            )
        self.seek(list(self._consumer.assignment()))

    def _state_intact(self) -> bool:
        """Our fences still hold (version, tenant overrides), and our offsets are still stored."""
        for key, field_, value in self.fences:
            if self.client.hget(key, field_) != value:
                return False
        if any(offset is not None for offset in self.expected.values()):
            return bool(self.client.exists(self.layout.offsets(self.settings.topic)))
        return True

    def _caught_up(self) -> list[int]:
        """Assigned partitions whose position has reached the end the broker reports."""
        assert self._consumer is not None
        assigned = list(self._consumer.assignment())
        if not assigned:
            return []
        ends = self._consumer.end_offsets(assigned)
        return [tp.partition for tp in assigned if self._consumer.position(tp) >= ends.get(tp, 0)]

    def partitions(self) -> list[int]:
        assert self._consumer is not None
        return sorted(self._consumer.partitions_for_topic(self.settings.topic) or set())

    def _all_caught_up(self) -> bool:
        assert self._consumer is not None
        return len(self._caught_up()) == len(self._consumer.assignment())

    def progress(self) -> tuple[int, int]:
        """(records consumed, records in the topic) over the assigned partitions."""
        assert self._consumer is not None
        assigned = list(self._consumer.assignment())
        if not assigned:
            return 0, 0
        begins = self._consumer.beginning_offsets(assigned)
        ends = self._consumer.end_offsets(assigned)
        done = sum(max(0, self._consumer.position(tp) - begins[tp]) for tp in assigned)
        total = sum(max(0, ends[tp] - begins[tp]) for tp in assigned)
        return done, max(done, total)

    def _mark_ready(self) -> None:
        assert self._consumer is not None
        done = [p for p in self._caught_up() if p not in self.ready_marked]
        if not done:
            return
        partitions = self._consumer.partitions_for_topic(self.settings.topic) or set()
        key = ready_key(self.layout)
        # Fenced like a batch: a switch may have made this version old (and removed its keys)
        # since the last check, and a plain HSET would leave a stray key of it behind.
        marks = BatchWrites()
        for fence_key, fence_field, value in self.fences:
            marks.expect(fence_key, fence_field, value)
        marks.hash_sets[(key, "partitions")] = str(len(partitions)).encode()
        for partition in done:
            marks.hash_sets[(key, str(partition))] = b"1"
        if self.store.commit(marks) is None:
            self.ready_marked.update(done)

    # --- the loop -----------------------------------------------------------------------

    def _dead_letter(self, poison: list[tuple[Any, Poison]]) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_servers(), acks="all", linger_ms=5
            )
        for record, verdict in poison:
            self._producer.send(
                self.settings.dlq_topic,
                key=record.key,
                value=record.value if record.value is not None else b"",
                headers=[
                    ("reason", verdict.reason.encode()),
                    ("source-topic", record.topic.encode()),
                    ("source-partition", str(record.partition).encode()),
                    ("source-offset", str(record.offset).encode()),
                ],
            )
        self._producer.flush(timeout=30)

    def prepare(self, records: dict[TopicPartition, list[Any]]) -> Prepared:
        """Decode a poll batch and name its offsets (expected = what the previous batch wrote)."""
        prepared = Prepared()
        for tp, messages in records.items():
            for record in messages:
                verdict = decode(record.value)
                if isinstance(verdict, Poison):
                    if self.tenant is None:
                        prepared.poison.append((record, verdict))
                elif self.tenant is None or verdict.tenant_id == self.tenant:
                    prepared.events.append(verdict)
            new = messages[-1].offset + 1
            prepared.offsets[tp.partition] = OffsetMove(self.expected.get(tp.partition), new)
            prepared.commits[tp] = OffsetAndMetadata(new, "", -1)
            self.expected[tp.partition] = new  # the next batch builds on this one
        return prepared

    def apply_prepared(self, prepared: Prepared) -> Prepared:
        """Dead-letter, then apply one batch with its offsets."""
        if prepared.poison and self.rebuild is None:  # a replay counts, never re-sends
            self._dead_letter(prepared.poison)
        self.applier.apply(prepared.events, prepared.offsets, len(prepared.poison))
        return prepared

    def _commit(
        self,
        applier: Applier,
        writes: BatchWrites,
        fenced: set[tuple[str, str]],
        prepared: Prepared,
    ) -> Prepared:
        """The writer thread's part: one atomic Redis call (re-folded if a state raced)."""
        applier.commit(writes, fenced, prepared.events, prepared.offsets, len(prepared.poison))
        return prepared

    def _finished(self, prepared: Prepared) -> None:
        self.stats.batches += 1
        self.stats.events += len(prepared.events)
        self.stats.dead_letters += len(prepared.poison)
        if self.rebuild is None and self._consumer is not None:
            try:
                self._consumer.commit_async(offsets=prepared.commits)
            except KafkaError as exc:  # the group offset is informational only
                log.debug("group commit failed: %s", exc)

    def process(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Decode, dead-letter, then apply one poll batch with its offsets, in this thread."""
        self._finished(self.apply_prepared(self.prepare(records)))

    def _open_consumer(self) -> KafkaConsumer:
        if self.rebuild is None:
            consumer = KafkaConsumer(**consumer_config(self.settings))
            consumer.subscribe([self.settings.topic], listener=_SeekToApplied(self))
            return consumer
        consumer = KafkaConsumer(**consumer_config(self.settings, group=False))
        partitions = consumer.partitions_for_topic(self.settings.topic) or set()
        consumer.assign([TopicPartition(self.settings.topic, p) for p in sorted(partitions)])
        self._consumer = consumer
        self.seek(list(consumer.assignment()))
        return consumer

    def run(
        self,
        *,
        idle_exit: float | None = None,
        max_events: int | None = None,
        on_batch: Callable[[RunStats], None] | None = None,
        on_caught_up: Callable[[], bool] | None = None,
    ) -> RunStats:
        """Project until stopped, idle for `idle_exit` s, `max_events` applied, or (rebuild)
        until `on_caught_up` returns True."""
        relax_gc()
        self._consumer = self._open_consumer()
        last_data = time.monotonic()
        last_check = 0.0
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-writer")
        pending: Future[Prepared] | None = None
        """The batch Redis is applying."""
        unsent: tuple[Applier, BatchWrites, set[tuple[str, str]], Prepared] | None = None
        """The batch folded last, not yet sent: the next batch's states are read before it."""

        def finish() -> None:
            """Wait for the batch in flight; its errors surface here, in the loop's handlers."""
            nonlocal pending
            if pending is not None:
                done, pending = pending, None
                self._finished(done.result())
                if on_batch is not None:
                    on_batch(self.stats)

        def send() -> None:
            """Hand the folded batch to the writer, after the one before it is applied."""
            nonlocal pending, unsent
            if unsent is not None:
                finish()
                batch, unsent = unsent, None
                pending = writer.submit(self._commit, *batch)

        try:
            while not self.stop_requested.is_set():
                try:
                    # Batch N+1 is read while Redis is idle, then batch N is sent, then N+1 is
                    # folded while Redis applies N, from the states N writes (`carried`): Redis
                    # serves one call at a time, so a read sent after N's write waits behind it.
                    records = self._consumer.poll(timeout_ms=200)
                    now = time.monotonic()
                    if records:
                        last_data = now
                        prepared = self.prepare(records)
                        if prepared.poison and self.rebuild is None:  # a replay never re-sends
                            self._dead_letter(prepared.poison)
                        applier = self.applier
                        finish()  # the batch before the unsent one: no longer carried
                        snapshot = applier.read(prepared.events, self.carried)
                        send()
                        writes, fenced = applier.fold(
                            prepared.events, prepared.offsets, len(prepared.poison), snapshot
                        )
                        self.carried = Applier.carried_by(writes)
                        unsent = (applier, writes, fenced, prepared)
                        if max_events is not None and self.stats.events >= max_events:
                            break
                        continue
                    send()
                    finish()
                    if max_events is not None and self.stats.events >= max_events:
                        break
                    if not self._consumer.assignment():
                        last_data = now  # idle only counts once we own partitions
                        continue
                    if now - last_check > HEALTH_EVERY:
                        last_check = now
                        if not self._state_intact():
                            self._reattach("control or offsets changed while idle")
                            continue
                        if self.rebuild is None:
                            self._mark_ready()
                        elif on_caught_up is not None and self._all_caught_up() and on_caught_up():
                            self.stats.done = True
                            break
                    if idle_exit is not None and now - last_data > idle_exit:
                        break
                except Fenced as exc:
                    pending = unsent = None
                    self._reattach(str(exc))
                except (StoreError, redis.RedisError) as exc:
                    pending = unsent = None
                    self.carried = {}
                    log.error("Redis: %s; retrying in 1 s", exc)
                    time.sleep(1)
                    try:
                        self._reattach("Redis error")
                    except (StoreError, redis.RedisError):
                        continue
            try:
                send()
                finish()
            except (Fenced, StoreError, redis.RedisError) as exc:
                log.warning("last batch not applied: %s", exc)
        finally:
            writer.shutdown(wait=True)
            self.close()
        return self.stats

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT finish the batch in hand, then leave the group cleanly."""

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: finishing the current batch", signum)
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
