"""Replay: zero-downtime rebuild, self-healing after lost state, interrupted rebuilds."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from kafka import KafkaProducer
from starlette.testclient import TestClient

from custstats.servers import EmbeddedRedis
from events.schema import EVENT_ADAPTER, record_key
from projector.control import CURRENT, REBUILD
from projector.versions import field_version, stored_versions
from tests.harness import SHANGHAI, engine_rows, statistics_query
from tests.messy import messy_events
from tests.reference import reference_rows, reference_sorted
from tests.support.api import api_app
from tests.support.projector import applied_offsets
from tests.support.servers import Deployment, EnvFactory, TopicFactory

pytestmark = pytest.mark.e2e
Position = tuple[int, int]
QUERIES: list[dict[str, Any]] = [
    {"tenant_id": 1},
    {"tenant_id": 2, "industry_id": 1},
    {"tenant_id": 3, "industry_id": 2, "tag_id": 1},
]


class Log:
    """Events published so far with their (partition, offset), to know what 'applied' covers."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
        self.placed: list[tuple[Position, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def publish(self, events: list[dict[str, Any]]) -> None:
        futures = [
            (
                self.producer.send(
                    self.topic,
                    key=record_key(EVENT_ADAPTER.validate_python(event)),
                    value=orjson.dumps(event),
                ),
                event,
            )
            for event in events
        ]
        self.producer.flush()
        with self.lock:
            for future, event in futures:
                meta = future.get(timeout=10)
                self.placed.append(((meta.partition, meta.offset), event))

    def applied_events(self, offsets: dict[int, int]) -> list[dict[str, Any]]:
        with self.lock:
            return [event for (p, o), event in self.placed if o < offsets.get(p, 0)]

    def close(self) -> None:
        self.producer.close()


def start(env: dict[str, str], log: Path, *command: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "custstats.cli", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def live_projector(
    env: dict[str, str],
    tmp_path: Path,
    client: redis.Redis,
    prefix: str,
    topic: str,
    log: Log,
    caught_up_at: int,
) -> Iterator[None]:
    """A live `custstats projector` that has applied the first `caught_up_at` records; stopped
    (and the log's producer closed) on the way out."""
    live = start(env, tmp_path / "live.log", "projector")
    try:
        wait_for(
            lambda: sum(applied_offsets(client, prefix, topic)[1].values()) == caught_up_at,
            60,
            "the live projector",
        )
        yield
    finally:
        live.terminate()
        live.wait(timeout=30)
        log.close()


def consistent_check(
    client: redis.Redis, url: str, prefix: str, topic: str, log: Log, query: dict[str, Any]
) -> bool:
    """Query between two identical reads of (version, offsets); compare with the reference
    over exactly the events those offsets cover. False when a write raced the query."""
    control = f"{prefix}:control"
    before = applied_offsets(client, prefix, topic)
    control_before = client.hgetall(control)
    rows, _ = engine_rows(
        lambda: aioredis.Redis.from_url(url),
        prefix,
        query["tenant_id"],
        statistics_query(query, per_page=100),
    )
    if (
        applied_offsets(client, prefix, topic) != before
        or client.hgetall(control) != control_before
    ):
        return False
    expected = reference_sorted(
        reference_rows(log.applied_events(before[1]), zone=SHANGHAI, **query).values(),
        "customer_count",
        "desc",
    )
    assert rows == expected, (before, query)
    return True


def all_answers_exact(client: redis.Redis, url: str, prefix: str, topic: str, log: Log) -> None:
    for query in QUERIES:
        wait_for(
            lambda query=query: consistent_check(client, url, prefix, topic, log, query),  # type: ignore[misc]
            30,
            "a query without a concurrent write",
        )


def rebuild_while_ingesting(
    env: dict[str, str],
    tmp_path: Path,
    log: Log,
    more: list[dict[str, Any]],
    check: Callable[[int], bool],
    *rebuild_args: str,
) -> int:
    """Publish `more` in small steps while `custstats rebuild` runs; check answers meanwhile.
    Returns how many consistent checks passed."""

    def ingest() -> None:
        for start_at in range(0, len(more), 150):
            log.publish(more[start_at : start_at + 150])
            time.sleep(0.1)

    feeder = threading.Thread(target=ingest)
    feeder.start()
    rebuild = start(env, tmp_path / "rebuild.log", "rebuild", *rebuild_args)
    checks = 0
    while rebuild.poll() is None:
        if check(checks):
            checks += 1
    feeder.join()
    assert rebuild.returncode == 0, (tmp_path / "rebuild.log").read_text()
    return checks


def test_rebuild_under_ingest_keeps_answers_exact_and_switches(deployment: Deployment) -> None:
    topic = deployment.make_topic(4)
    events = messy_events(21, 9000)
    log = Log(deployment.bootstrap, topic)
    log.publish(events[:6000])
    env = deployment.env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "200"}
    with live_projector(
        env, deployment.tmp_path, deployment.client, deployment.prefix, topic, log, 6000
    ):
        old_version = applied_offsets(deployment.client, deployment.prefix, topic)[0]
        checks = rebuild_while_ingesting(
            env,
            deployment.tmp_path,
            log,
            events[6000:],
            lambda n: consistent_check(
                deployment.client,
                deployment.redis_url,
                deployment.prefix,
                topic,
                log,
                QUERIES[n % 3],
            ),
        )
        assert checks >= 3
        new_version = applied_offsets(deployment.client, deployment.prefix, topic)[0]
        assert new_version is not None and new_version != old_version
        assert field_version(deployment.client, deployment.prefix, REBUILD) is None
        wait_for(
            lambda: (
                sum(applied_offsets(deployment.client, deployment.prefix, topic)[1].values())
                == 9000
            ),
            60,
            "the live projector to follow the switch",
        )
        all_answers_exact(deployment.client, deployment.redis_url, deployment.prefix, topic, log)
        assert stored_versions(deployment.client, deployment.prefix) == {new_version}
        assert not list(deployment.client.scan_iter(match=f"{deployment.prefix}:v{old_version}:*"))


def test_lost_state_is_rebuilt_by_the_projector_and_readyz_waits(
    kafka_bootstrap: str,
    make_topic: TopicFactory,
    settings_env: EnvFactory,
    private_redis: EmbeddedRedis,
    tmp_path: Path,
) -> None:
    topic = make_topic(4)
    prefix = "heal"
    log = Log(kafka_bootstrap, topic)
    log.publish(messy_events(8, 5000))
    env = settings_env(topic) | {
        "CUSTSTATS_REDIS_URL": private_redis.url,
        "CUSTSTATS_KEY_PREFIX": prefix,
    }
    client = redis.Redis.from_url(private_redis.url)
    app = api_app(private_redis.url, prefix)
    projector = start(env, tmp_path / "projector.log", "projector")
    try:
        with TestClient(app) as http:
            wait_for(lambda: http.get("/readyz").status_code == 200, 60, "ready")
            all_answers_exact(client, private_redis.url, prefix, topic, log)
            for loss in ("flushdb", "restart"):
                if loss == "flushdb":
                    client.flushdb()
                else:
                    private_redis.restart()
                assert http.get("/readyz").status_code == 503
                wait_for(lambda: http.get("/readyz").status_code == 200, 60, f"ready after {loss}")
                all_answers_exact(client, private_redis.url, prefix, topic, log)
        assert "rebuilding" in (tmp_path / "projector.log").read_text()
    finally:
        projector.terminate()
        projector.wait(timeout=30)
        log.close()
        client.close()


def test_interrupted_rebuild_resumes_exactly_and_a_second_one_is_refused(
    deployment: Deployment,
) -> None:
    topic = deployment.make_topic(4)
    log = Log(deployment.bootstrap, topic)
    log.publish(messy_events(5, 12_000))
    env = deployment.env(topic)
    with live_projector(
        env, deployment.tmp_path, deployment.client, deployment.prefix, topic, log, 12_000
    ):
        # batch by batch (no bulk phase), so that it can be killed half-way through its offsets
        slow = env | {"CUSTSTATS_BATCH_MAX_RECORDS": "50", "CUSTSTATS_BULK_REBUILD": "false"}
        first = start(slow, deployment.tmp_path / "rebuild1.log", "rebuild")

        def rebuild_progress() -> int:
            version = field_version(deployment.client, deployment.prefix, REBUILD)
            if version is None:
                return 0
            raw = deployment.client.hgetall(f"{deployment.prefix}:v{version}:offsets:{topic}")
            return sum(int(offset) for offset in raw.values())

        wait_for(lambda: rebuild_progress() > 2000, 60, "rebuild progress")
        second = subprocess.run(
            [sys.executable, "-m", "custstats.cli", "rebuild"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert b"another rebuild is running" in second.stderr
        first.kill()
        first.wait()
        interrupted_at = rebuild_progress()
        assert 0 < interrupted_at < 12_000

        def resumed() -> bool:
            result = subprocess.run(
                [sys.executable, "-m", "custstats.cli", "rebuild"],
                env=env,
                capture_output=True,
                timeout=120,
            )
            if result.returncode == 1 and b"another rebuild is running" in result.stderr:
                return False
            assert result.returncode == 0, result.stderr.decode()
            assert b"resuming" in result.stderr
            return True

        wait_for(resumed, 60, "the lease of the killed rebuild to run out")
        all_answers_exact(deployment.client, deployment.redis_url, deployment.prefix, topic, log)
        current = field_version(deployment.client, deployment.prefix, CURRENT)
        assert stored_versions(deployment.client, deployment.prefix) == {current}
        strays = [
            key
            for key in deployment.client.scan_iter(match=f"{deployment.prefix}:v*")
            if not key.startswith(f"{deployment.prefix}:v{current}:".encode())
        ]
        assert strays == []


def test_projector_meeting_an_older_format_rebuilds_into_a_new_version(
    deployment: Deployment,
) -> None:
    topic = deployment.make_topic(2)
    log = Log(deployment.bootstrap, topic)
    log.publish(messy_events(13, 3000))
    env = deployment.env(topic)
    first = start(env, deployment.tmp_path / "first.log", "projector", "--idle-exit", "3")
    assert first.wait(timeout=90) == 0
    old = field_version(deployment.client, deployment.prefix, CURRENT)
    deployment.client.set(f"{deployment.prefix}:v{old}:format", 0)  # as if written by older code
    with TestClient(api_app(deployment.redis_url, deployment.prefix)) as http:
        answer = http.post("/business/1/plugin/CustomerManage/getStatisticsList", json={})
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
        assert answer.json()["msg"] == "statistics are being rebuilt (0%)"  # not partial numbers
    upgraded = start(env, deployment.tmp_path / "upgraded.log", "projector", "--idle-exit", "3")
    assert upgraded.wait(timeout=120) == 0, (deployment.tmp_path / "upgraded.log").read_text()
    new = field_version(deployment.client, deployment.prefix, CURRENT)
    assert new is not None and new != old
    assert stored_versions(deployment.client, deployment.prefix) == {new}
    all_answers_exact(deployment.client, deployment.redis_url, deployment.prefix, topic, log)
    log.close()


def test_rebuilding_one_tenant_moves_only_its_keys_and_stays_exact(deployment: Deployment) -> None:
    topic = deployment.make_topic(4)
    events = messy_events(17, 8000)
    log = Log(deployment.bootstrap, topic)
    log.publish(events[:6000])
    env = deployment.env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "200"}
    with live_projector(
        env, deployment.tmp_path, deployment.client, deployment.prefix, topic, log, 6000
    ):
        current = field_version(deployment.client, deployment.prefix, CURRENT)
        rebuild_while_ingesting(
            env,
            deployment.tmp_path,
            log,
            events[6000:],
            lambda n: consistent_check(
                deployment.client,
                deployment.redis_url,
                deployment.prefix,
                topic,
                log,
                QUERIES[n % 3],
            ),
            "--tenant",
            "2",
        )
        moved = deployment.client.hget(f"{deployment.prefix}:control", "tenant:2")
        assert moved is not None and int(moved) != current
        wait_for(
            lambda: (
                sum(applied_offsets(deployment.client, deployment.prefix, topic)[1].values())
                == 8000
            ),
            60,
            "the live projector to catch up",
        )
        all_answers_exact(deployment.client, deployment.redis_url, deployment.prefix, topic, log)
        assert not list(
            deployment.client.scan_iter(match=f"{deployment.prefix}:v{current}:{{2}}:*")
        )
        assert list(deployment.client.scan_iter(match=f"{deployment.prefix}:v{int(moved)}:{{2}}:*"))
        assert list(deployment.client.scan_iter(match=f"{deployment.prefix}:v{current}:{{1}}:*"))

        full = subprocess.run(
            [sys.executable, "-m", "custstats.cli", "rebuild"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert full.returncode == 0, full.stderr.decode()
        assert deployment.client.hget(f"{deployment.prefix}:control", "tenant:2") is None
        all_answers_exact(deployment.client, deployment.redis_url, deployment.prefix, topic, log)
        assert stored_versions(deployment.client, deployment.prefix) == {
            field_version(deployment.client, deployment.prefix, CURRENT)
        }
