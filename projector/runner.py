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

import enum
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from projector.applier import Applier
from projector.calendar import LocalCalendar
from projector.cells import CellProjection
from projector.config import ProjectorConfig
from projector.deadletter import DeadLetters
from projector.errors import Fenced, StoreError
from projector.pipeline import Batch, Pipeline, decode_batch
from projector.readiness import Readiness
from projector.role import Role, Target
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


@dataclass(slots=True)
class RunStats:
    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    started: float = field(default_factory=time.monotonic)
    done: bool = False


class Health(enum.Enum):
    WORKING = 1
    REATTACHED = 2
    """The runner re-read where it stands and re-seeked."""
    DONE = 3
    """The run is over (caught up, or switched)."""


@dataclass(frozen=True, slots=True)
class Until:
    """When a run stops (besides a signal): idle for `idle_exit` s, `max_events` applied,
    every partition caught up (`caught_up`), or `on_caught_up` returning True."""

    idle_exit: float | None = None
    max_events: int | None = None
    caught_up: bool = False
    on_caught_up: Callable[[], bool] | None = None


class ProjectorRunner:
    """The live projector, or (with a rebuild `role`) a replay into a version not current yet."""

    def __init__(
        self,
        config: ProjectorConfig,
        client: redis.Redis | None = None,
        role: Role | None = None,
        source: RecordSource | None = None,
    ) -> None:
        """`source`: where records come from (default: Kafka, as the role consumes)."""
        self.config = config
        self.client = client or redis.Redis.from_url(config.redis_url)
        self.role = role or Role.live(config.key_prefix)
        self.calendar = LocalCalendar(config.zone)
        self._source = source
        self.expected: dict[int, int | None] = {}
        self.readiness = Readiness()
        self.stop_requested = threading.Event()
        self.stats = RunStats()
        self.dead_letters = DeadLetters(config) if self.role.is_live else None
        self.on_batch: Callable[[RunStats], None] | None = None
        self.pipeline = Pipeline(self._finished)
        target = self.role.resolve(self.client, first=True)
        assert target is not None
        self._attach(target)

    @property
    def source(self) -> RecordSource:
        if self._source is None:
            self._source = KafkaSource(self.config, group=self.role.is_live)
        return self._source

    def _attach(self, target: Target) -> None:
        self.layout = target.layout
        self.fences = target.fences
        self.store = ProjectorStore(self.client, target.layout)
        projection = CellProjection(target.layout, self.calendar)
        self.applier = Applier(self.store, projection, self.config.topic, fences=self.fences)
        self.readiness.forget()

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
            {p: applied.get(p, "earliest") for p in partitions},
        )

    def revoked(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.expected.pop(partition, None)
        self.readiness.forget(partitions)

    def _reattach(self, reason: str) -> None:
        """Re-read which version we write and where it stands, then seek there."""
        self.pipeline.reset()  # the batches in hand and their carried states are re-read
        had_state = any(offset is not None for offset in self.expected.values())
        target = self.role.resolve(self.client)
        if target is None:
            log.warning("v%s is no longer the rebuild (%s): stopping", self.layout.version, reason)
            self.stop_requested.set()
            return
        if target.layout != self.layout:
            log.warning("now writing %s (was %s): %s", target.layout, self.layout, reason)
        self._attach(target)
        self.store.forget_cache()
        if had_state and not self.store.applied_offsets(self.config.topic):
            log.warning(
                "projection state for topic %s is missing (Redis flushed or restarted without "
                "persistence?): rebuilding v%d from the earliest offsets; /readyz reports not "
                "ready until caught up",
                self.config.topic,
                target.layout.version,
            )
        self.assigned(self.source.assignment())

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

    # --- the loop ---------------------------------------------------------------------------

    def _finished(self, batch: Batch) -> None:
        self.stats.batches += 1
        self.stats.events += len(batch.events)
        self.stats.dead_letters += len(batch.poison)
        self.source.commit({p: move.new for p, move in batch.offsets.items()})
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _take(self) -> bool:
        """Poll once and push what came; False when the poll was empty."""
        records = self.source.poll(timeout_ms=200)
        if not records:
            return False
        batch = decode_batch(records, self.expected, self.role.tenant)
        if self.dead_letters is not None:  # a replay counts poison, never re-sends it
            self.dead_letters.send(batch.poison)
        self.pipeline.push(self.applier, batch)
        return True

    def _idle(self, until: Until) -> Health:
        """The health check between polls."""
        if not self._state_intact():
            self._reattach("control or offsets changed while idle")
            return Health.REATTACHED
        caught_up = self.source.caught_up()
        if self.role.is_live:
            partitions = len(self.source.partitions())
            self.readiness.mark(self.store, self.layout, self.fences, caught_up, partitions)
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
        """The loop, resumed after a fence (re-attach) or a Redis error (retry in 1 s)."""
        while not self.stop_requested.is_set():
            try:
                self._loop(until)
                return
            except Fenced as exc:
                self._reattach(str(exc))
            except (StoreError, redis.RedisError) as exc:
                self.pipeline.reset()
                log.error("Redis: %s; retrying in 1 s", exc)
                time.sleep(1)
                try:
                    self._reattach("Redis error")
                except (StoreError, redis.RedisError):
                    continue

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
                log.warning("last batch not applied: %s", exc)
        finally:
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
