"""Publish a generated log into a topic with the product's producer settings, fast.

`custstats publish` validates every line with pydantic first; the benchmark's
log is known to be valid, so this feeder only derives the record key (SPEC §1)
and sends, which keeps publishing out of the way of what is being measured.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from custstats.publisher import make_producer
from custstats.settings import Settings


@dataclass(slots=True)
class FeedResult:
    records: int
    seconds: float
    ends: dict[int, int] = field(default_factory=dict)
    """Partition -> offset after its last record: where a consumer is caught up."""

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def record_key(line: bytes) -> bytes:
    event: dict[str, Any] = orjson.loads(line)
    if event["type"] == "employee-upserted":
        return f"{event['tenant_id']}:employee:{event['employee_id']}".encode()
    return f"{event['tenant_id']}:{event['customer_id']}".encode()


def feed(path: Path, settings: Settings) -> FeedResult:
    """Send every line of `path` to the settings' topic; returns the end offsets acknowledged."""
    producer = make_producer(settings)
    ends: dict[int, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def done(metadata: Any) -> None:
        with lock:
            if metadata.offset + 1 > ends.get(metadata.partition, 0):
                ends[metadata.partition] = metadata.offset + 1

    started = time.monotonic()
    records = 0
    with path.open("rb") as lines:
        for line in lines:
            value = line.rstrip(b"\n")
            if not value:
                continue
            future = producer.send(settings.topic, key=record_key(value), value=value)
            future.add_callback(done)
            future.add_errback(errors.append)
            records += 1
    producer.flush(timeout=600)
    seconds = time.monotonic() - started
    producer.close(timeout=10)
    if errors:
        raise RuntimeError(f"{len(errors)} records not delivered, first: {errors[0]}")
    return FeedResult(records, seconds, dict(sorted(ends.items())))
