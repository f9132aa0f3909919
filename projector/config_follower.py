"""Projects `<topic>.config` into Redis: restore to the end offsets, mark it, keep following.

A restore starts from the positions stored in Redis (from the beginning when there
are none, as after a Redis that lost its state), captures the end offsets, and sets
the "config restored" marker once the stored positions reached them and a poll
found nothing more. While
following, a Redis found emptied (a stored position went back, or the marker
vanished) starts a new restore: the settings come back with the same replay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from events.tenant_config import BadConfig, TenantConfig, decode
from projector.config_store import ConfigStore, ConfigStoreError
from projector.config_topic import ConfigTopicError, assign_all, config_topic_of, open_consumer
from projector.tenant_config import Position

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


@dataclass
class Step:
    applied: int = 0
    stale: int = 0
    bad: list[tuple[Position, BadConfig]] = field(default_factory=list)
    restarted: bool = False
    restored: bool = False


class ConfigFollower:
    def __init__(
        self,
        consumer: KafkaConsumer,
        store: ConfigStore,
        config_topic: str,
        on_bad: Callable[[Position, BadConfig], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.topic = config_topic
        self.on_bad = on_bad
        self.expected: dict[int, int | None] = {}
        self.ends: dict[int, int] = {}
        self.restored = False

    def begin(self) -> None:
        """Start a restore from the stored positions; capture the end offsets to reach."""
        assigned = assign_all(self.consumer, self.topic)
        stored = self.store.positions()
        for tp in assigned:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)
        self.expected = {tp.partition: stored.get(tp.partition) for tp in assigned}
        ends = self.consumer.end_offsets(assigned)
        self.ends = {tp.partition: end for tp, end in ends.items()}
        self.restored = False
        log.info("restoring operator settings from %s up to %s", self.topic, self.ends)

    def step(self, timeout_ms: int = 500) -> Step:
        """One poll: apply what arrived, one transaction per partition; mark or check."""
        step = Step()
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        for tp, batch in sorted(polled.items(), key=lambda item: item[0].partition):
            if not self._apply(tp, batch, step):
                self.begin()
                step.restarted = True
                return step
        if not self.restored:
            # only after a poll found nothing more: Tansu's end offsets can trail the last
            # acknowledged record of a multi-record batch, so the ends alone are not enough
            if not polled and self.store.mark_restored(self.ends):
                self.restored = True
                log.info("operator settings restored from %s", self.topic)
        elif not polled and not self.store.restored():
            log.warning("the restored marker vanished (Redis lost its state?): restoring again")
            self.begin()
            step.restarted = True
        step.restored = self.restored
        return step

    def _apply(self, tp: TopicPartition, batch: list, step: Step) -> bool:  # type: ignore[type-arg]
        good: list[tuple[Position, TenantConfig]] = []
        for message in batch:
            at = Position(tp.partition, message.offset)
            verdict = decode(message.key, message.value)
            if isinstance(verdict, BadConfig):
                step.bad.append((at, verdict))
                log.warning("config record %s:%d skipped: %s", tp.topic, at.offset, verdict.reason)
                if self.on_bad is not None:
                    self.on_bad(at, verdict)
            else:
                good.append((at, verdict))
        if not batch:
            return True
        next_offset = batch[-1].offset + 1
        expected = self.expected.get(tp.partition)
        result = self.store.apply(good, {tp.partition: (expected, next_offset)})
        if result.lost:
            log.warning(
                "stored config position of partition %d went back: restoring again", tp.partition
            )
            return False
        self.expected[tp.partition] = next_offset
        step.applied += result.applied
        step.stale += result.stale
        return True

    def restore(self, timeout_s: float) -> bool:
        """Bounded run: restore until the marker is set; whether it was within `timeout_s`."""
        self.begin()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.step(timeout_ms=200).restored:
                return True
        return False

    def follow(self, stop: Callable[[], bool], timeout_ms: int = 500) -> None:
        """Restore, then keep following until `stop()`; outages are logged and retried."""
        backoff, started = 0.2, False
        while not stop():
            try:
                if not started:
                    self.begin()
                    started = True
                self.step(timeout_ms)
                backoff = 0.2
            except (
                KafkaError,
                redis.RedisError,
                ConfigTopicError,
                ConfigStoreError,
                OSError,
            ) as exc:
                log.warning("operator settings: %s; retrying in %.1f s", exc, backoff)
                time.sleep(backoff)
                backoff, started = min(backoff * 2, MAX_BACKOFF_S), False


def start_following(
    bootstrap: Sequence[str], client: redis.Redis, prefix: str, topic: str, stop: threading.Event
) -> threading.Thread:
    """The projector's settings follower on a daemon thread of its own (own consumer), until
    `stop` is set; `topic` is the events topic."""

    def run() -> None:
        backoff = 0.2
        while True:  # a broker away at start: wait for it like any other outage
            try:
                consumer = open_consumer(bootstrap)
                break
            except ConfigTopicError as exc:
                log.warning("operator settings: %s; retrying in %.1f s", exc, backoff)
                if stop.wait(backoff):
                    return
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        try:
            follower = ConfigFollower(consumer, ConfigStore(client, prefix), config_topic_of(topic))
            follower.follow(stop.is_set)
        finally:
            consumer.close()

    thread = threading.Thread(target=run, name="config-follower", daemon=True)
    thread.start()
    return thread
