"""Where records come from: the Kafka consumer in production, a list in memory in tests.

The runner only needs what `RecordSource` names: partitions assigned to it, a seek to
the offsets stored with the projection, polls, and a group commit for lag tooling.
Records are anything with Kafka's record attributes (`Record`), so a poll's records
reach the decoder unconverted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from projector.config import ProjectorConfig

log = logging.getLogger(__name__)
CALL_TIMEOUT_MS = 5000
"""Bound of one metadata/offsets request: a stalled broker is reported, not waited on."""
RECONNECT_MAX_MS = 2000
"""kafka-python's reconnect backoff cap (default 30 s): resume soon after the broker is back."""


def quiet_kafka_logs() -> None:
    """kafka-python logs every failed connection attempt at WARNING/ERROR (dozens of lines for
    one outage); the projector reports outages itself (projector.outage), so keep its logger
    quiet unless debugging."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


class Record(Protocol):
    """The attributes of a Kafka consumer record that the projector reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Assignments(Protocol):
    """Told when partitions are assigned (seek them) or revoked (forget them)."""

    def assigned(self, partitions: list[int]) -> None: ...
    def revoked(self, partitions: list[int]) -> None: ...


class RecordSource(Protocol):
    def start(self, listener: Assignments) -> None: ...
    def poll(self, timeout_ms: int) -> Mapping[int, Sequence[Record]]: ...
    def assignment(self) -> list[int]: ...
    def seek(self, partition: int, offset: int | None) -> None: ...
    def caught_up(self, ends: Mapping[int, int] | None = None) -> list[int]: ...
    def end_offsets(self) -> dict[int, int]: ...
    def highwaters(self) -> dict[int, int]: ...
    def partitions(self) -> list[int]: ...
    def progress(self) -> tuple[int, int]: ...
    def commit(self, offsets: Mapping[int, int]) -> None: ...
    def close(self) -> None: ...


def consumer_config(config: ProjectorConfig, group: bool = True) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap_servers": list(config.kafka_servers),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": config.batch_max_records,
        "request_timeout_ms": 30_000,
        "bootstrap_timeout_ms": int(config.startup_timeout_s * 1000),
        "reconnect_backoff_max_ms": RECONNECT_MAX_MS,
    }
    if group:
        settings |= {
            "group_id": config.consumer_group,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "max_poll_interval_ms": 300_000,
        }
    return settings


class _Relay(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, listener: Assignments) -> None:
        self.listener = listener

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.listener.revoked([tp.partition for tp in revoked])

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.listener.assigned([tp.partition for tp in assigned])


class KafkaSource:
    """One topic through kafka-python: in the consumer group (live), or every partition
    assigned by hand and no group (a rebuild, which must not disturb the live group)."""

    def __init__(self, config: ProjectorConfig, group: bool = True) -> None:
        self.topic = config.topic
        self.group = group
        self.consumer = KafkaConsumer(**consumer_config(config, group))

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def start(self, listener: Assignments) -> None:
        if self.group:
            self.consumer.subscribe([self.topic], listener=_Relay(listener))
            return
        self.consumer.assign([self._tp(p) for p in self.partitions()])
        listener.assigned(self.assignment())

    def poll(self, timeout_ms: int) -> dict[int, list[Any]]:
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        return {tp.partition: records for tp, records in polled.items()}

    def assignment(self) -> list[int]:
        return sorted(tp.partition for tp in self.consumer.assignment())

    def seek(self, partition: int, offset: int | None) -> None:
        if offset is None:
            self.consumer.seek_to_beginning(self._tp(partition))
        else:
            self.consumer.seek(self._tp(partition), offset)

    def caught_up(self, ends: Mapping[int, int] | None = None) -> list[int]:
        """Assigned partitions whose position has reached the end the broker reports (`ends`,
        else asked now); KafkaError when the broker does not answer in time."""
        if ends is None:
            ends = self.end_offsets()
        done = []
        for partition, end in ends.items():
            position = self.consumer.position(self._tp(partition), timeout_ms=CALL_TIMEOUT_MS)
            if position is not None and position >= end:
                done.append(partition)
        return sorted(done)

    def end_offsets(self) -> dict[int, int]:
        """End offsets of the assigned partitions, asked now (bounded: KafkaError on timeout)."""
        assigned = list(self.consumer.assignment())
        if not assigned:
            return {}
        ends = self.consumer.end_offsets(assigned, timeout_ms=CALL_TIMEOUT_MS)
        return {tp.partition: end for tp, end in ends.items()}

    def highwaters(self) -> dict[int, int]:
        """The end offsets the last fetch responses reported (no request): after a poll."""
        known = {}
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is not None:
                known[tp.partition] = end
        return known

    def partitions(self) -> list[int]:
        return sorted(self.consumer.partitions_for_topic(self.topic) or set())

    def progress(self) -> tuple[int, int]:
        """(records consumed, records in the topic) over the assigned partitions."""
        assigned = list(self.consumer.assignment())
        if not assigned:
            return 0, 0
        begins = self.consumer.beginning_offsets(assigned, timeout_ms=CALL_TIMEOUT_MS)
        ends = self.consumer.end_offsets(assigned, timeout_ms=CALL_TIMEOUT_MS)
        positions = {tp: self.consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS) for tp in assigned}
        done = sum(max(0, (positions[tp] or 0) - begins[tp]) for tp in assigned)
        total = sum(max(0, ends[tp] - begins[tp]) for tp in assigned)
        return done, max(done, total)

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Informational only (lag tooling): Redis holds the offsets that count."""
        if not self.group:
            return
        commits = {self._tp(p): OffsetAndMetadata(new, "", -1) for p, new in offsets.items()}
        try:
            self.consumer.commit_async(offsets=commits)
        except KafkaError as exc:
            log.debug("group commit failed: %s", exc)

    def close(self) -> None:
        self.consumer.close(autocommit=False)


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class MemorySource:
    """A log in memory, served in the polls it was cut into: runs the production pipeline
    in-process. Records before a partition's position are skipped."""

    polls: list[list[MemoryRecord]]
    partition_count: int = 1
    committed: dict[int, int] = field(default_factory=dict)
    _next: int = 0
    _position: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of_values(
        cls, topic: str, polls: Iterable[Sequence[bytes]], start: int = 0
    ) -> MemorySource:
        """Values on partition 0, numbered on from offset `start`, one poll per sequence (an
        empty one is an idle tick)."""
        cut: list[list[MemoryRecord]] = []
        offset = start
        for values in polls:
            cut.append([MemoryRecord(topic, 0, offset + n, None, v) for n, v in enumerate(values)])
            offset += len(values)
        return cls(cut)

    def start(self, listener: Assignments) -> None:
        listener.assigned(self.partitions())

    def poll(self, timeout_ms: int) -> dict[int, list[MemoryRecord]]:
        """The next poll's records past their partition's position; an empty poll is an
        idle tick (the runner's health check runs), as is the end of the log."""
        polled: dict[int, list[MemoryRecord]] = {}
        if self._next < len(self.polls):
            for record in self.polls[self._next]:
                if record.offset >= self._position.get(record.partition, 0):
                    polled.setdefault(record.partition, []).append(record)
                    self._position[record.partition] = record.offset + 1
            self._next += 1
        return polled

    def assignment(self) -> list[int]:
        return self.partitions()

    def seek(self, partition: int, offset: int | None) -> None:
        """Position a partition; a seek back replays from the first poll holding that offset."""
        position = self._position[partition] = offset or 0
        for number, poll in enumerate(self.polls[: self._next]):
            if any(r.partition == partition and r.offset >= position for r in poll):
                self._next = number
                return

    def caught_up(self, ends: Mapping[int, int] | None = None) -> list[int]:
        waiting = {r.partition for poll in self.polls[self._next :] for r in poll}
        return [p for p in self.partitions() if p not in waiting]

    def end_offsets(self) -> dict[int, int]:
        """The end of the whole log: every poll counts as written already."""
        return self._ends(self.polls)

    def highwaters(self) -> dict[int, int]:
        """The end of what was served so far."""
        return self._ends(self.polls[: self._next])

    def _ends(self, polls: Sequence[Sequence[MemoryRecord]]) -> dict[int, int]:
        ends = dict.fromkeys(self.partitions(), 0)
        for poll in polls:
            for record in poll:
                ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
        return ends

    def partitions(self) -> list[int]:
        return list(range(self.partition_count))

    def progress(self) -> tuple[int, int]:
        done = sum(len(poll) for poll in self.polls[: self._next])
        return done, sum(len(poll) for poll in self.polls)

    def commit(self, offsets: Mapping[int, int]) -> None:
        self.committed.update(offsets)

    def close(self) -> None:
        return None
