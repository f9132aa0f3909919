"""Where the bulk phase reads the log: every partition from its start up to captured ends.

`KafkaLog` assigns every partition by hand (no group: the live group is not disturbed),
seeks to the beginning and stops each partition at its end offset; `MemoryLog` serves
records held in memory (tests). Records past a captured end are left to the incremental
runner, which continues from those ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition

from projector.config import ProjectorConfig
from projector.errors import StoreError
from projector.source import Record, consumer_config

STALL_S = 60.0
"""No record for this long while a partition is below its end: the broker is not serving."""


class BulkLog(Protocol):
    def end_offsets(self) -> dict[int, int]: ...
    def records(self, ends: Mapping[int, int]) -> Iterator[Record]: ...
    def close(self) -> None: ...


class KafkaLog:
    def __init__(self, config: ProjectorConfig) -> None:
        self.topic = config.topic
        settings = consumer_config(config, group=False)
        settings["max_poll_records"] = 20_000
        settings["fetch_max_bytes"] = 64 * 1024 * 1024
        settings["max_partition_fetch_bytes"] = 16 * 1024 * 1024
        self.consumer = KafkaConsumer(**settings)

    def end_offsets(self) -> dict[int, int]:
        partitions = sorted(self.consumer.partitions_for_topic(self.topic) or set())
        tps = [TopicPartition(self.topic, p) for p in partitions]
        ends = self.consumer.end_offsets(tps) if tps else {}
        return {tp.partition: int(end) for tp, end in ends.items()}

    def records(self, ends: Mapping[int, int]) -> Iterator[Any]:
        todo = {TopicPartition(self.topic, p): end for p, end in ends.items() if end > 0}
        if not todo:
            return
        consumer = self.consumer
        consumer.assign(list(todo))
        consumer.seek_to_beginning(*todo)
        last = time.monotonic()
        while todo:
            polled = consumer.poll(timeout_ms=500)
            for tp, batch in polled.items():
                end = todo.get(tp)
                if end is None:
                    continue
                last = time.monotonic()
                yield from (record for record in batch if record.offset < end)
            for tp, end in list(todo.items()):
                if consumer.position(tp) >= end:
                    consumer.pause(tp)
                    del todo[tp]
            if todo and time.monotonic() - last > STALL_S:
                raise StoreError(f"bulk read stalled below the end offsets {todo}")

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class MemoryLog:
    """Records in memory, by partition in offset order."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.held = sorted(records, key=lambda record: (record.partition, record.offset))

    def end_offsets(self) -> dict[int, int]:
        ends: dict[int, int] = {}
        for record in self.held:
            ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
        return ends

    def records(self, ends: Mapping[int, int]) -> Iterator[Record]:
        return (r for r in self.held if r.offset < ends.get(r.partition, 0))

    def close(self) -> None:
        return None
