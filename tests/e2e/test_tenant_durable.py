"""`custstats tenant` writes durable records; `tenant show` / `status` after `rebuild --tenant`.

Issue 10 finding 3: settings that lived only in Redis were lost with it. Now every
`register` / `set` is a record on `<topic>.config` before Redis shows it. Issue 11:
after `rebuild --tenant 25`, `tenant show 25` and `status --json` reported the old
version; `rebuild --tenant` of a tenant with no events replayed the whole topic.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from custstats.servers import free_port
from custstats.tenant_info import tenant_rebuild_refusal
from projector.config_topic import config_topic_of, open_consumer, read_config_topic
from projector.control import api_key_digest
from projector.tenant_config import ConfigKeys
from tests.support.servers import EnvFactory, TopicFactory

pytestmark = pytest.mark.e2e

CUSTSTATS = str(Path(sys.executable).with_name("custstats"))
AT = "2024-03-01T10:00:00+08:00"


def custstats(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CUSTSTATS, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def added(tenant: int, employee: int, customer: int, event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "customer-added",
        "tenant_id": tenant,
        "occurred_at": AT,
        "employee_id": employee,
        "customer_id": customer,
        "industry_id": None,
        "source_id": None,
        "progress_id": None,
        "tag_ids": [],
    }


def publish_and_project(env: dict[str, str], tmp_path: Path, events: list[dict[str, Any]]) -> None:
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    assert custstats(env, "publish", str(lines)).returncode == 0
    done = custstats(env, "projector", "--idle-exit", "3")
    assert done.returncode == 0, done.stderr


def test_tenant_settings_are_records_on_the_config_topic(
    settings_env: EnvFactory,
    make_topic: TopicFactory,
    kafka_bootstrap: str,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    topic = make_topic(2)
    env = settings_env(topic)
    assert custstats(env, "tenant", "register", "80").returncode == 0
    done = custstats(
        env, "tenant", "set", "80", "--opportunity", "on", "--api-key-stdin", stdin="k1\n"
    )
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "tenant 80: opportunity plugin on (now on), API key set",
    )
    assert custstats(env, "tenant", "set", "81", "--opportunity", "off").returncode == 0

    consumer = open_consumer([kafka_bootstrap])
    try:
        latest = read_config_topic(consumer, config_topic_of(topic)).latest
    finally:
        consumer.close()
    assert sorted(latest) == [80, 81]
    record = latest[80][1]
    assert (record.registered, record.opportunity, record.api_key_sha256) == (
        True,
        "on",
        api_key_digest("k1"),
    )
    assert (latest[81][1].registered, latest[81][1].opportunity) == (False, "off")
    # Redis shows it at once, written from the record (its position is stored with it)
    config = redis_client.hgetall(ConfigKeys(key_prefix).tenant(80))
    assert config[b"api_key"] == api_key_digest("k1").encode()
    assert b"config_offset" in config

    cleared = custstats(env, "tenant", "set", "80", "--clear-api-key")
    assert cleared.returncode == 0
    consumer = open_consumer([kafka_bootstrap])
    try:
        after = read_config_topic(consumer, config_topic_of(topic)).latest[80][1]
    finally:
        consumer.close()
    assert (after.registered, after.opportunity, after.api_key_sha256) == (True, "on", None)


def test_tenant_write_with_kafka_unreachable_is_one_line_and_exit_2(
    settings_env: EnvFactory,
) -> None:
    env = settings_env() | {"CUSTSTATS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    start = time.monotonic()
    done = custstats(env, "tenant", "register", "82", timeout=90)
    assert time.monotonic() - start < 60
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("custstats tenant register: cannot reach Kafka at 127.0.0.1:")


def test_show_and_status_report_a_tenants_own_version_after_rebuild_tenant(
    settings_env: EnvFactory,
    make_topic: TopicFactory,
    tmp_path: Path,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    env = settings_env(make_topic(2))
    publish_and_project(env, tmp_path, [added(25, 1, 100, "25-a"), added(26, 1, 100, "26-a")])
    assert json.loads(custstats(env, "tenant", "show", "25", "--json").stdout)["version"] == 1

    done = custstats(env, "rebuild", "--tenant", "25")
    assert done.returncode == 0, done.stderr

    shown = json.loads(custstats(env, "tenant", "show", "25", "--json").stdout)
    assert shown["version"] == 2
    assert "  projection   v2" in custstats(env, "tenant", "show", "25").stdout
    status = json.loads(custstats(env, "status", "--json").stdout)
    versions = {tenant["tenant_id"]: tenant["version"] for tenant in status["tenants"]}
    assert versions == {25: 2, 26: 1}
    assert status["projection"]["version"] == 1  # the deployment's version did not move

    # a tenant none of whose events was projected: nothing to rebuild, said before replaying
    assert tenant_rebuild_refusal(redis_client, key_prefix, 25) is None
    refusal = tenant_rebuild_refusal(redis_client, key_prefix, 99)
    assert refusal is not None and refusal.startswith("tenant 99 has no projected events")


def test_rebuild_of_a_tenant_without_events_says_so_and_exits_non_zero(
    settings_env: EnvFactory, make_topic: TopicFactory, tmp_path: Path
) -> None:
    env = settings_env(make_topic(2))
    publish_and_project(env, tmp_path, [added(25, 1, 100, "25-a")])
    done = custstats(env, "rebuild", "--tenant", "99", timeout=60)
    assert done.returncode != 0
    assert "tenant 99 has no projected events" in done.stderr
