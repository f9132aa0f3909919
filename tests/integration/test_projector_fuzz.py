"""10,000 malformed records among valid events on a real Tansu topic, through the real projector
process (issue 10): every one dead-lettered with its reason, the numbers exact, no stop."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from events.decode import Poison, decode
from events.schema import EVENT_ADAPTER, record_key
from projector.control import CURRENT
from projector.versions import field_version
from tests.harness import SHANGHAI, engine_rows, statistics_query
from tests.malformed import malformed_record
from tests.messy import messy_events
from tests.reference import reference_rows, reference_sorted
from tests.support.servers import EnvFactory, TopicFactory

pytestmark = pytest.mark.integration

MALFORMED = 10_000
VALID = 6_000
LARGE = 8 * 1024
MAX_LARGE = 150  # records over 8 KiB (deep, oversized): enough of each, not 100 MB of them
QUERIES: list[dict[str, Any]] = [
    {"tenant_id": 1},
    {"tenant_id": 2, "industry_id": 1},
    {"tenant_id": 3, "tag_id": 2},
    {"tenant_id": 1, "source_id": 3, "progress_id": 2},
]


def malformed_records(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    records: list[bytes] = []
    large = 0
    while len(records) < count:
        record = malformed_record(rng)
        if len(record) > LARGE:
            if large == MAX_LARGE:
                continue
            large += 1
        records.append(record)
    return records


def valid_events(seed: int, count: int) -> list[dict[str, Any]]:
    """messy_events, about a seventh of their timestamps in RFC 3339's lowercase t and z
    (chosen by event id, so that a re-delivery stays the same event)."""
    events = messy_events(seed, count)
    for event in events:
        at = event["occurred_at"]
        if sum(event["event_id"].encode()) % 7 == 0 and isinstance(at, str):
            event["occurred_at"] = at.replace("T", "t").replace("Z", "z")
    return events


def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, acks="all", max_request_size=4 << 20
    )
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=60)
    producer.close()


def dead_letters(bootstrap: str, topic: str, expected: int) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(f"{topic}.dlq", 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    letters: list[Any] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        for messages in batch.values():
            letters.extend(messages)
        if not batch and len(letters) >= expected:
            break
    consumer.close()
    return letters


def test_ten_thousand_malformed_records_are_dead_lettered_and_the_numbers_stay_exact(
    kafka_bootstrap: str,
    make_topic: TopicFactory,
    settings_env: EnvFactory,
    redis_client: redis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
) -> None:
    topic = make_topic(4)
    events = valid_events(17, VALID)
    poison = malformed_records(29, MALFORMED)
    rng = random.Random(31)
    stream = [(record_key(EVENT_ADAPTER.validate_python(e)), orjson.dumps(e)) for e in events]
    for number, record in enumerate(poison):
        stream.insert(rng.randint(0, len(stream)), (f"fuzz:{number}".encode(), record))
    publish(kafka_bootstrap, topic, stream)

    log = tmp_path / "projector.log"
    started = time.monotonic()
    with log.open("ab") as sink:
        process = subprocess.run(
            [sys.executable, "-m", "custstats.cli", "projector", "--idle-exit", "3"],
            env=settings_env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "500"},
            stdout=subprocess.DEVNULL,
            stderr=sink,
            timeout=120,
            check=False,
        )
    assert process.returncode == 0, log.read_text()  # ran until idle: it never stopped early
    print(f"\nprojected {len(stream)} records in {time.monotonic() - started:.1f} s")

    version = field_version(redis_client, key_prefix, CURRENT)
    counted = redis_client.hget(f"{key_prefix}:v{version}:dlq:{topic}", "count")
    assert int(counted or 0) == MALFORMED
    offsets = redis_client.hgetall(f"{key_prefix}:v{version}:offsets:{topic}")
    assert sum(int(value) for value in offsets.values()) == len(stream)

    letters = dead_letters(kafka_bootstrap, topic, MALFORMED)
    assert len(letters) == MALFORMED
    sent = {f"fuzz:{number}".encode(): record for number, record in enumerate(poison)}
    for letter in letters:
        headers = {name: value.decode() for name, value in letter.headers}
        verdict = decode(sent.pop(letter.key))
        assert isinstance(verdict, Poison)
        assert headers["reason"] == verdict.reason, headers
        assert headers["source-topic"] == topic
    assert not sent, "every malformed record is dead-lettered once"

    for query in QUERIES:
        expected = reference_sorted(
            reference_rows(events, zone=SHANGHAI, **query).values(), "customer_count", "desc"
        )
        rows, total = engine_rows(
            lambda: redis.asyncio.Redis.from_url(redis_url),
            key_prefix,
            query["tenant_id"],
            statistics_query(query, per_page=100),
        )
        assert total == len(expected)
        assert rows == expected[:100], query
