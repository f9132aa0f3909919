"""The embedded servers and shared fixtures behave like the real services other tests rely on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from custstats.servers import EmbeddedRedis
from tests.support.servers import EnvFactory, TopicFactory

pytestmark = pytest.mark.integration

RECORDS = 1000


def test_keyed_records_round_trip_through_a_consumer_group(
    kafka_bootstrap: str, make_topic: TopicFactory
) -> None:
    topic = make_topic(4)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    sent_partition: dict[bytes, set[int]] = defaultdict(set)
    try:
        keys = [f"customer-{i % 37}".encode() for i in range(RECORDS)]
        futures = [
            (key, producer.send(topic, key=key, value=str(i).encode()))
            for i, key in enumerate(keys)
        ]
        producer.flush()
        for key, future in futures:
            sent_partition[key].add(future.get(timeout=30).partition)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    values: list[int] = []
    got_partition: dict[bytes, set[int]] = defaultdict(set)
    try:
        deadline = time.monotonic() + 60
        while len(values) < RECORDS and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    values.append(int(record.value))
                    got_partition[record.key].add(tp.partition)
    finally:
        consumer.close()

    assert sorted(values) == list(range(RECORDS))
    assert got_partition == sent_partition
    assert all(len(partitions) == 1 for partitions in got_partition.values())
    assert set().union(*got_partition.values()) == {0, 1, 2, 3}


def test_redis_restart_loses_data_and_serves_again_on_the_same_port(
    private_redis: EmbeddedRedis,
) -> None:
    url = private_redis.url
    client = redis.Redis.from_url(url)
    try:
        client.set("counter", 41)
        private_redis.restart()
        assert private_redis.url == url
        assert client.get("counter") is None  # the old client reconnects to an empty server
        assert client.incr("counter") == 1
    finally:
        client.close()


INNER_TEST = """
import redis

def test_writes(key_prefix: str, redis_client: redis.Redis) -> None:
    redis_client.set("survivor", key_prefix)
    redis_client.set(key_prefix, "no colon: outside the prefix")
    redis_client.set(key_prefix + "d:1", "a longer prefix: outside")
    redis_client.mset({key_prefix + ":a": 1, key_prefix + ":b:c": 2})
    redis_client.hset(key_prefix + ":h", "f", 1)
    assert redis_client.exists(key_prefix + ":a", key_prefix + ":b:c", key_prefix + ":h") == 3
"""


def test_key_prefix_teardown_removes_only_its_own_keys(
    private_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    shutil.copy(Path(__file__).parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTSTATS_")}
    env["CUSTSTATS_TEST_REDIS_URL"] = private_redis.url
    env["PYTHONPATH"] = str(Path(__file__).parents[2])  # the conftest imports tests.support
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    client = redis.Redis.from_url(private_redis.url)
    try:
        raw = client.get("survivor")
        assert isinstance(raw, bytes)
        prefix = raw.decode()
        assert prefix.startswith("t-")
        assert list(client.scan_iter(match=f"{prefix}:*")) == []
        remaining = sorted(key.decode() for key in client.scan_iter())
        assert remaining == sorted(["survivor", prefix, f"{prefix}d:1"])
    finally:
        client.close()


def test_settings_env_points_a_custstats_process_at_the_test_servers(
    settings_env: EnvFactory, kafka_bootstrap: str, redis_url: str, key_prefix: str
) -> None:
    env = settings_env()
    code = (
        "import json; from custstats.settings import Settings; s = Settings(); "
        "print(json.dumps(s.model_dump(mode='json') | {'redis_url': s.redis()}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    seen = json.loads(run.stdout)
    assert seen["kafka_bootstrap"] == kafka_bootstrap
    assert seen["redis_url"] == redis_url
    assert seen["key_prefix"] == key_prefix
    assert seen["display_tz"] == "Asia/Shanghai"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert {seen["topic"], f"{seen['topic']}.dlq"} <= set(admin.list_topics())
    finally:
        admin.close()
    assert settings_env(seen["topic"])["CUSTSTATS_GROUP_ID"] == seen["group_id"]
