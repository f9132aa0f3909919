"""Driving real projector processes: publish a stream, start `custstats projector`, watch it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from events.schema import EVENT_ADAPTER, record_key
from projector.control import CURRENT
from projector.layout import Layout
from projector.versions import field_version

QUERIES: list[dict[str, Any]] = [
    {"tenant_id": 1},
    {"tenant_id": 2},
    {"tenant_id": 3, "industry_id": 1},
    {"tenant_id": 1, "tag_id": 2},
    {"tenant_id": 1, "industry_id": 1, "progress_id": 2},
    {"tenant_id": 2, "source_id": 3},
]
"""Reference queries over `messy_events` tenants, checked after a run."""


def publish(bootstrap: str, topic: str, events: list[dict[str, Any]], poison: list[bytes]) -> None:
    """The events keyed as upstream keys them, a poison record after every 700 (and the rest)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    for number, event in enumerate(events):
        producer.send(
            topic, key=record_key(EVENT_ADAPTER.validate_python(event)), value=orjson.dumps(event)
        )
        if number % 700 == 0 and poison:
            producer.send(topic, key=b"poison", value=poison.pop())
    for record in poison:
        producer.send(topic, key=b"poison", value=record)
    producer.flush()
    producer.close()


def applied_offsets(
    client: redis.Redis, prefix: str, topic: str
) -> tuple[int | None, dict[int, int]]:
    """(current version, partition -> next offset it will read); (None, {}) before any run."""
    version = field_version(client, prefix, CURRENT)
    if version is None:
        return None, {}
    raw = client.hgetall(Layout(prefix, version).offsets(topic))
    return version, {int(partition): int(offset) for partition, offset in raw.items()}


def applied(client: redis.Redis, prefix: str, topic: str) -> int:
    """Records of the topic the current version has applied, over every partition."""
    return sum(applied_offsets(client, prefix, topic)[1].values())


def start_projector(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "custstats.cli", "projector", *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def dead_letter_records(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(f"{topic}.dlq", 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    records: list[Any] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        if not batch and records:
            break
        for messages in batch.values():
            records.extend(messages)
    consumer.close()
    return records
