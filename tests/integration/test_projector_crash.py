"""The real projector process, killed with SIGKILL mid-stream and restarted, ends exactly right."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from events.schema import EVENT_ADAPTER, record_key
from projector.versions import CURRENT, field_version
from tests.conftest import EnvFactory, TopicFactory
from tests.harness import SHANGHAI, engine_rows, statistics_query
from tests.messy import messy_events, poison_lines
from tests.reference import reference_rows, reference_sorted

pytestmark = pytest.mark.integration

QUERIES: list[dict[str, Any]] = [
    {"tenant_id": 1},
    {"tenant_id": 2},
    {"tenant_id": 3, "industry_id": 1},
    {"tenant_id": 1, "tag_id": 2},
    {"tenant_id": 1, "industry_id": 1, "progress_id": 2},
    {"tenant_id": 2, "source_id": 3},
]


def publish(bootstrap: str, topic: str, events: list[dict[str, Any]], poison: list[bytes]) -> None:
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


def applied(client: redis.Redis, prefix: str, topic: str) -> int:
    version = field_version(client, prefix, CURRENT)
    if version is None:
        return 0
    offsets = client.hgetall(f"{prefix}:v{version}:offsets:{topic}")
    return sum(int(value) for value in offsets.values())


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


def test_sigkill_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str,
    make_topic: TopicFactory,
    settings_env: EnvFactory,
    redis_client: redis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> None:
    topic = make_topic(4)
    events = messy_events(11, 12_000)
    poison = poison_lines(5, 26)
    publish(kafka_bootstrap, topic, events, list(poison))
    total_records = len(events) + len(poison)
    env = settings_env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "150"}

    kills = 0
    while kills < 4:
        process = start_projector(env, tmp_path / "projector.log")
        before = applied(redis_client, key_prefix, topic)
        deadline = time.monotonic() + 60
        while applied(redis_client, key_prefix, topic) < before + 1500:
            assert process.poll() is None, (tmp_path / "projector.log").read_text()
            assert time.monotonic() < deadline, "projector made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
    assert applied(redis_client, key_prefix, topic) < total_records, "stream ended before kills"

    final = start_projector(env, tmp_path / "projector.log", "--idle-exit", "4")
    assert final.wait(timeout=120) == 0, (tmp_path / "projector.log").read_text()
    assert applied(redis_client, key_prefix, topic) == total_records

    for reference_query in QUERIES:
        for order_by in ("customer_count", "follow_last_date"):
            expected = reference_sorted(
                reference_rows(events, zone=SHANGHAI, **reference_query).values(), order_by, "desc"
            )
            query = statistics_query(reference_query, per_page=100, order_by=order_by)
            rows, total = engine_rows(
                lambda: redis.asyncio.Redis.from_url(redis_url),
                key_prefix,
                reference_query["tenant_id"],
                query,
            )
            assert total == len(expected)
            assert rows == expected[:100], reference_query

    version = field_version(redis_client, key_prefix, CURRENT)
    counted = redis_client.hget(f"{key_prefix}:v{version}:dlq:{topic}", "count")
    assert int(counted or 0) == len(poison)
    letters = dead_letter_records(kafka_bootstrap, topic)
    sources = {
        (dict(record.headers)["source-partition"], dict(record.headers)["source-offset"])
        for record in letters
    }
    assert len(sources) == len(poison), "every poison record is dead-lettered (at least once)"
    assert all(dict(record.headers)["reason"] for record in letters)


def test_sigterm_finishes_the_batch_and_exits_cleanly(
    kafka_bootstrap: str,
    make_topic: TopicFactory,
    settings_env: EnvFactory,
    redis_client: redis.Redis,
    key_prefix: str,
    tmp_path: Path,
) -> None:
    topic = make_topic(2)
    events = messy_events(3, 6000)
    publish(kafka_bootstrap, topic, events, [])
    env = settings_env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "100"}
    process = start_projector(env, tmp_path / "projector.log")
    deadline = time.monotonic() + 60
    while applied(redis_client, key_prefix, topic) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    stopped_at = applied(redis_client, key_prefix, topic)
    assert 0 < stopped_at < len(events)
    time.sleep(1)
    assert applied(redis_client, key_prefix, topic) == stopped_at, "nothing written after exit"
