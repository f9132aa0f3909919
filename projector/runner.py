"""The projector process: Kafka in, one atomic Redis write per poll batch, Kafka commit after.

Redis holds the authoritative offsets (written with the state they produced);
on every partition assignment the consumer seeks to them, so a crash or a
rebalance at any instant neither loses nor double-counts an event. Offsets are
also committed to the Kafka group afterwards, for standard lag tooling only.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
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
from projector.cells import CellProjection
from projector.layout import Layout
from projector.store import ProjectorStore
from projector.versions import ensure_current_layout

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunStats:
    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    started: float = field(default_factory=time.monotonic)


class _SeekToApplied(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions newly assigned partitions at the offsets stored with the projection."""

    def __init__(self, runner: ProjectorRunner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.runner.expected.pop(tp.partition, None)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.runner.seek(list(assigned))


def consumer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_servers(),
        "group_id": settings.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_poll_records": settings.batch_max_records,
        "max_poll_interval_ms": 300_000,
        "request_timeout_ms": 30_000,
    }


class ProjectorRunner:
    def __init__(
        self,
        settings: Settings,
        client: redis.Redis | None = None,
        layout: Layout | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or redis.Redis.from_url(settings.redis())
        self.layout = layout or ensure_current_layout(self.client, settings.key_prefix)
        self.store = ProjectorStore(self.client, self.layout)
        projection = CellProjection(self.layout, LocalCalendar(settings.zone))
        self.applier = Applier(self.store, projection, settings.topic)
        self.expected: dict[int, int | None] = {}
        self.stop_requested = threading.Event()
        self.stats = RunStats()
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None

    # --- Kafka plumbing -----------------------------------------------------------------

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
            "assigned %s, resuming at %s",
            sorted(tp.partition for tp in partitions),
            {tp.partition: applied.get(tp.partition, 0) for tp in partitions},
        )

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

    # --- the loop -----------------------------------------------------------------------

    def process(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Decode, dead-letter, then apply one poll batch with its offsets."""
        events: list[Event] = []
        poison: list[tuple[Any, Poison]] = []
        offsets: dict[int, OffsetMove] = {}
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, messages in records.items():
            for record in messages:
                verdict = decode(record.value)
                if isinstance(verdict, Poison):
                    poison.append((record, verdict))
                else:
                    events.append(verdict)
            new = messages[-1].offset + 1
            offsets[tp.partition] = OffsetMove(self.expected.get(tp.partition), new)
            commits[tp] = OffsetAndMetadata(new, "", -1)
        if poison:
            self._dead_letter(poison)
        self.applier.apply(events, offsets, dead_letters=len(poison))
        for partition, move in offsets.items():
            self.expected[partition] = move.new
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.dead_letters += len(poison)
        assert self._consumer is not None
        try:
            self._consumer.commit_async(offsets=commits)
        except KafkaError as exc:  # the group offset is informational only
            log.debug("group commit failed: %s", exc)

    def run(
        self,
        *,
        idle_exit: float | None = None,
        max_events: int | None = None,
        on_batch: Callable[[RunStats], None] | None = None,
    ) -> RunStats:
        """Project until stopped; bounded by idle seconds or an event count when given."""
        self._consumer = KafkaConsumer(**consumer_config(self.settings))
        self._consumer.subscribe([self.settings.topic], listener=_SeekToApplied(self))
        last_data = time.monotonic()
        try:
            while not self.stop_requested.is_set():
                records = self._consumer.poll(timeout_ms=200)
                if not records:
                    if not self._consumer.assignment():
                        last_data = time.monotonic()  # idle only counts once we own partitions
                    elif idle_exit is not None and time.monotonic() - last_data > idle_exit:
                        break
                    continue
                last_data = time.monotonic()
                try:
                    self.process(records)
                except Fenced as exc:
                    log.warning("%s; re-seeking assigned partitions", exc)
                    self.seek(list(self._consumer.assignment()))
                    continue
                if on_batch is not None:
                    on_batch(self.stats)
                if max_events is not None and self.stats.events >= max_events:
                    break
        finally:
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
