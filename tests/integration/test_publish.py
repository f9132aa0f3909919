"""`custstats publish` as a user runs it, against a real broker, then read back from the topic."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from custstats.servers import free_port
from tests.messy import messy_events, poison_lines
from tests.support.servers import EnvFactory, TopicFactory

pytestmark = pytest.mark.integration

CUSTSTATS = str(Path(sys.executable).with_name("custstats"))


def expected_key(line: bytes) -> bytes:
    """SPEC §1, written out again here so the test does not trust record_key."""
    event = orjson.loads(line)
    if event["type"] == "employee-upserted":
        return f"{event['tenant_id']}:employee:{event['employee_id']}".encode()
    return f"{event['tenant_id']}:{event['customer_id']}".encode()


def consume(bootstrap: str, topic: str, expected: int) -> list[tuple[int, bytes, bytes]]:
    """Every record of the topic as (partition, key, value), waiting until `expected` arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[tuple[int, bytes, bytes]] = []
        deadline = time.monotonic() + 60
        quiet_until = 0.0
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for tp, messages in batch.items():
                records += [(tp.partition, m.key, m.value) for m in messages]
            if len(records) >= expected and not batch:
                if quiet_until == 0.0:
                    quiet_until = time.monotonic() + 1.0  # anything extra would show up now
                elif time.monotonic() > quiet_until:
                    break
        return records
    finally:
        consumer.close()


def test_publish_sends_exactly_the_valid_lines_keyed_and_reports_the_rest(
    tmp_path: Path, make_topic: TopicFactory, settings_env: EnvFactory, kafka_bootstrap: str
) -> None:
    topic = make_topic(4)
    valid = [orjson.dumps(event) for event in messy_events(seed=11, n=400, tenants=(25, 26))]
    poison = [line for line in poison_lines(seed=11, n=39) if line.strip() and b"\n" not in line]
    lines: list[bytes] = []
    bad: list[int] = []
    for index, line in enumerate(valid):
        lines.append(line)
        if index % 10 == 3 and poison:
            lines.append(poison.pop())
            bad.append(len(lines))
        if index % 50 == 7:
            lines.append(b"   ")  # blank: skipped without a word
    assert not poison and len(bad) > 30
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    result = subprocess.run(
        [CUSTSTATS, "publish", str(source)],
        env=settings_env(topic),
        capture_output=True,
        timeout=120,
        check=False,
    )

    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert [int(n) for n in re.findall(r"^line (\d+): (?!published)", stderr, re.MULTILINE)] == bad
    assert f"published {len(valid)} events to '{topic}', rejected {len(bad)} lines" in stderr
    assert "Traceback" not in stderr

    records = consume(kafka_bootstrap, topic, len(valid))
    assert sorted((key, value) for _, key, value in records) == sorted(
        (expected_key(line), line) for line in valid
    )
    partitions_of: defaultdict[bytes, set[int]] = defaultdict(set)
    for partition, key, _ in records:
        partitions_of[key].add(partition)
    assert all(len(partitions) == 1 for partitions in partitions_of.values())
    assert len({partition for partition, _, _ in records}) == 4


def test_publish_reads_stdin_and_exits_0_when_every_line_is_valid(
    make_topic: TopicFactory, settings_env: EnvFactory, kafka_bootstrap: str
) -> None:
    topic = make_topic(4)
    valid = [orjson.dumps(event) for event in messy_events(seed=12, n=30)]
    result = subprocess.run(
        [CUSTSTATS, "publish", "-"],
        input=b"\n".join(valid) + b"\n\n",
        env=settings_env(topic),
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert stderr.splitlines()[-1] == f"published 30 events to '{topic}', rejected 0 lines"
    assert sorted(value for _, _, value in consume(kafka_bootstrap, topic, 30)) == sorted(valid)


def test_an_unreachable_broker_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(orjson.dumps(messy_events(seed=13, n=1)[0]) + b"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTSTATS_")}
    env["CUSTSTATS_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [CUSTSTATS, "publish", str(source)], env=env, capture_output=True, timeout=60, check=False
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert time.monotonic() - started < 30
    assert "cannot reach Kafka at 127.0.0.1:" in stderr
    assert "Traceback" not in stderr
