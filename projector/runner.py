"""The projector process: records in, one atomic Redis write per poll batch, group commit after.

Redis holds the authoritative offsets (written with the state they produced); on
every partition assignment the source seeks to them, so a crash or a rebalance at
any instant neither loses nor double-counts an event. Offsets are also committed to
the Kafka group afterwards, for standard lag tooling only.

Every write is fenced on the control hash (see `role`). When a fence trips (a switch,
a flush, a Redis restart) the runner re-reads where it stands and resumes from the
offsets stored there: from the earliest ones when the state is gone, which is the
self-healing rebuild. The batch path itself is `pipeline`.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

import redis
from kafka.errors import KafkaError

from projector import control
from projector.applier import Applier
from projector.calendar import LocalCalendar
from projector.cells import BatchWrites, CellProjection
from projector.config import ProjectorConfig
from projector.deadletter import DeadLetters
from projector.errors import Fenced, StoreError
from projector.metrics import ProjectorMetrics
from projector.outage import (
    KAFKA_ERRORS,
    SERVER_ERRORS,
    Outages,
    ServerUnreachable,
    Stopped,
    describe,
    open_redis,
    redis_where,
)
from projector.pipeline import Batch, Pipeline, decode_batch
from projector.readiness import Freshness
from projector.role import Role, Target
from projector.runlog import DeadLetterLog, ProgressLog, log_reattach
from projector.runstate import Health, RunStats, Until
from projector.signals import stop_on_signals
from projector.source import KafkaSource, RecordSource
from projector.store import ProjectorStore

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


class ProjectorRunner:
    """The live projector, or (with a rebuild `role`) a replay into a version not current yet."""

    def __init__(
        self,
        config: ProjectorConfig,
        client: redis.Redis | None = None,
        role: Role | None = None,
        source: RecordSource | None = None,
        metrics: ProjectorMetrics | None = None,
    ) -> None:
        """`source`: where records come from (default: Kafka, as the role consumes)."""
        self.config = config
        self.client = client or open_redis(config.redis_url)
        self.role = role or Role.live(config.key_prefix)
        self.calendar = LocalCalendar(config.zone)
        self._source = source
        self.metrics = metrics
        self.outages = Outages(
            {"redis": redis_where(self.client), "kafka": ",".join(config.kafka_servers)}, metrics
        )
        self.expected: dict[int, int | None] = {}
        self.freshness = Freshness()
        self.stop_requested = threading.Event()
        self.stats = RunStats()
        self.dead_letters = DeadLetters(config) if self.role.is_live else None
        self.progress_log, self.letter_log = ProgressLog(), DeadLetterLog()
        self.on_batch: Callable[[RunStats], None] | None = None
        self.pipeline = Pipeline(self._finished)
        target = self.role.resolve(self.client, first=True)
        assert target is not None
        self._attach(target)

    @property
    def source(self) -> RecordSource:
        if self._source is None:
            try:
                self._source = KafkaSource(self.config, group=self.role.is_live)
            except KafkaError as exc:
                raise ServerUnreachable(
                    f"cannot reach the Kafka broker at {self.outages.where['kafka']} (waited "
                    f"{self.config.startup_timeout_s:.0f} s): {describe(exc)}"
                ) from exc
        return self._source

    def _attach(self, target: Target) -> None:
        self.layout = target.layout
        self.fences = target.fences
        self.store = ProjectorStore(self.client, target.layout)
        projection = CellProjection(target.layout, self.calendar)
        self.applier = Applier(self.store, projection, self.config.topic, fences=self.fences)
        self.freshness.forget()

    # --- positions (the source's listener) ------------------------------------------------

    def assigned(self, partitions: list[int]) -> None:
        """Seek newly assigned partitions to the offsets stored with the projection."""
        applied = self.store.applied_offsets(self.config.topic)
        for partition in partitions:
            offset = applied.get(partition)
            self.expected[partition] = offset
            self.source.seek(partition, offset)
        log.info(
            "v%d: partitions %s resume at %s",
            self.layout.version,
            sorted(partitions),
            ", ".join(f"{p}: {applied.get(p, 'the beginning')}" for p in sorted(partitions)),
        )

    def revoked(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.expected.pop(partition, None)
        self.freshness.forget(partitions)
        if self.metrics is not None:
            self.metrics.forget_partitions(self.config.topic, partitions)

    def _reattach(self, reason: str) -> None:
        """Re-read which version we write and where it stands, then seek there."""
        self.pipeline.reset()  # the batches in hand and their carried states are re-read
        had_state = any(offset is not None for offset in self.expected.values())
        old = self.layout
        target = self.role.resolve(self.client)
        if target is None:
            log.info("v%d is no longer the version being rebuilt: stopping", old.version)
            self.stop_requested.set()
            return
        self._attach(target)
        self.store.forget_cache()
        lost = had_state and not self.store.applied_offsets(self.config.topic)
        log_reattach(old, target.layout, reason, lost, self.config.topic)
        self.assigned(self.source.assignment())
        self.outages.ok("redis")

    def _state_intact(self) -> bool:
        """Our fences still hold (version, tenant overrides), and our offsets are still stored."""
        for key, field_, value in self.fences:
            if self.client.hget(key, field_) != value:
                return False
        if any(offset is not None for offset in self.expected.values()):
            return bool(self.client.exists(self.layout.offsets(self.config.topic)))
        return True

    def partitions(self) -> list[int]:
        return self.source.partitions()

    def progress(self) -> tuple[int, int]:
        """(records consumed, records in the topic) over the assigned partitions."""
        return self.source.progress()

    def applied(self) -> dict[int, int]:
        """Next offset per owned partition, as written (or being written) with the projection."""
        return {p: offset for p, offset in self.expected.items() if offset is not None}

    def lag(self) -> int | None:
        """Records of the owned partitions not applied yet, from the last end offsets seen."""
        if not self.freshness.ends:
            return None
        return control.lag(self.applied(), self.freshness.ends)

    # --- the loop ---------------------------------------------------------------------------

    def _finished(self, batch: Batch) -> None:
        self.stats.batches += 1
        self.stats.events += len(batch.events)
        self.stats.dead_letters += len(batch.poison)
        self.outages.ok("redis")
        self.source.commit({p: move.new for p, move in batch.offsets.items()})
        if self.metrics is not None:
            reasons = [verdict.reason for _, verdict in batch.poison] if self.role.is_live else []
            self.metrics.batch_applied(batch.events, reasons, batch.write_seconds, batch.duplicates)
            self.metrics.offsets(self.config.topic, self.applied(), self.freshness.ends)
        self.progress_log.applied(len(batch.events), self.lag(), self.stats.dead_letters)
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _take(self) -> bool:
        """Poll once and push what came; False when the poll was empty."""
        try:
            records = self.source.poll(timeout_ms=200)
        except KAFKA_ERRORS as exc:
            self.outages.wait("kafka", exc, self.stop_requested)
            return False
        if not records:
            return False
        self.outages.ok("kafka")
        ends = self.source.highwaters()
        batch = decode_batch(records, self.expected, self.role.tenant)
        batch.ends = ends
        if self.dead_letters is not None and batch.poison:  # a replay never re-sends poison
            self._dead_letter(batch)
        self._capture(ends)
        riders = BatchWrites()
        self.freshness.ride(riders, self.layout, self.expected, ends)
        batch.riders = riders.hash_sets
        self.pipeline.push(self.applier, batch)
        return True

    def _dead_letter(self, batch: Batch) -> None:
        """Send the batch's poison to the dead-letter topic, retried until the broker takes it
        (before the batch is applied: a dead letter is never lost)."""
        for record, verdict in batch.poison:
            self.letter_log.letter(record.topic, record.partition, record.offset, verdict.reason)
        letters = self.dead_letters
        assert letters is not None
        self.outages.call("kafka", lambda: letters.send(batch.poison), self.stop_requested)

    def _capture(self, ends: dict[int, int]) -> None:
        """Targets of the owned partitions not known yet (a new version: set them to `ends`)."""
        missing = [p for p in self.freshness.missing(self.expected) if p in ends]
        if not missing:
            return
        if not self.freshness.partitions:
            self.freshness.partitions = len(self.source.partitions())
        self.freshness.capture(self.store, self.layout, self.fences, {p: ends[p] for p in missing})

    def _idle(self, until: Until) -> Health:
        """The health check between polls: fences, end offsets, freshness, the stop rules."""
        if not self._state_intact():
            self._reattach("change of the control hash or the offsets")
            return Health.REATTACHED
        try:
            ends = self.source.end_offsets()
            caught_up = self.source.caught_up(ends)
            if not self.freshness.partitions:
                self.freshness.partitions = len(self.source.partitions())
        except KAFKA_ERRORS as exc:
            self.outages.failed("kafka", exc)  # the next health check is the retry
            return Health.WORKING
        self.outages.ok("kafka")
        self._capture(ends)
        fresh = self.freshness.idle_writes(self.layout, self.fences, self.expected, ends, caught_up)
        if fresh is not None and (failed := self.store.commit(fresh)) is not None:
            raise Fenced(f"{failed[0]} {failed[1]} changed under us")
        if self.metrics is not None:
            self.metrics.offsets(self.config.topic, self.applied(), ends)
        if len(caught_up) < len(self.source.assignment()):
            return Health.WORKING
        if until.on_caught_up is not None and until.on_caught_up():
            self.stats.done = True
            return Health.DONE
        return Health.DONE if until.caught_up else Health.WORKING

    def _loop(self, until: Until) -> None:
        last_data = time.monotonic()
        last_check = 0.0
        while not self.stop_requested.is_set():
            if self._take():
                last_data = time.monotonic()
            else:
                self.pipeline.drain()
                now = time.monotonic()
                if not self.source.assignment():
                    last_data = now  # idle only counts once we own partitions
                elif now - last_check > HEALTH_EVERY or until.caught_up:
                    last_check = now
                    health = self._idle(until)
                    if health is Health.DONE:
                        return
                    if health is Health.REATTACHED:
                        continue  # records may be waiting from where it re-seeked
                if until.idle_exit is not None and now - last_data > until.idle_exit:
                    return
            if until.max_events is not None and self.stats.events >= until.max_events:
                return

    def _guarded(self, until: Until) -> None:
        """The loop, resumed after a fence (re-attach) or a server outage (retried with backoff,
        reported once: see outage)."""
        reason: str | None = None
        while not self.stop_requested.is_set():
            try:
                if reason is not None:
                    self._reattach(reason)
                    reason = None
                self._loop(until)
                return
            except Stopped:
                return
            except Fenced as exc:
                reason = str(exc)
            except SERVER_ERRORS as exc:
                self.pipeline.reset()
                server: Literal["redis", "kafka"] = (
                    "kafka" if isinstance(exc, KAFKA_ERRORS) else "redis"
                )
                try:
                    self.outages.wait(server, exc, self.stop_requested)
                except Stopped:
                    return
                reason = "Redis outage" if server == "redis" else "broker outage"

    def run(
        self,
        *,
        idle_exit: float | None = None,
        max_events: int | None = None,
        on_batch: Callable[[RunStats], None] | None = None,
        on_caught_up: Callable[[], bool] | None = None,
        until_caught_up: bool = False,
    ) -> RunStats:
        """Project until stopped, idle for `idle_exit` s, `max_events` applied, every partition
        caught up (`until_caught_up`), or (rebuild) until `on_caught_up` returns True."""
        self.on_batch = on_batch
        until = Until(idle_exit, max_events, until_caught_up, on_caught_up)
        try:
            self.source.start(self)
            self._guarded(until)
            try:
                self.pipeline.drain()
            except (Fenced, StoreError, redis.RedisError) as exc:
                log.warning("last batch not applied: %s", describe(exc))
        finally:
            self.letter_log.flush()
            self.pipeline.close()
            self.close()
        return self.stats

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
        if self.dead_letters is not None:
            self.dead_letters.close()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT finish the batch in hand, then leave the group cleanly."""
        stop_on_signals(self.stop_requested)
