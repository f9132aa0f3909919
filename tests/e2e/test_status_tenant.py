"""`custstats status` and `custstats tenant` as an operator runs them, against real servers.

Events go in with `custstats publish` and are projected by `custstats projector`; tenant
settings are made with `custstats tenant` and then observed through the API app, the way
the admin front end would notice them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaProducer

from custstats.servers import free_port
from projector.control import api_key_digest
from projector.versions import PROJECTION_FORMAT
from tests.harness import project
from tests.support.api import (
    api_app,
    create_version,
    mark_projection_complete,
    mark_settings_restored,
)
from tests.support.servers import EnvFactory, TopicFactory

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 under its TestClient; with httpx it works the same.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.e2e

CUSTSTATS = str(Path(sys.executable).with_name("custstats"))
ENDPOINT = "/business/{}/plugin/CustomerManage/getStatisticsList"
INVALID_APPID = {"errcode": 500, "errmsg": "invalid appid"}
AT = "2024-03-01T10:00:00+08:00"


def custstats(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CUSTSTATS, *args],
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def status_json(env: dict[str, str]) -> dict[str, Any]:
    done = custstats(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def employee(tenant: int, employee_id: int, event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "employee-upserted",
        "tenant_id": tenant,
        "occurred_at": AT,
        "employee_id": employee_id,
        "name": f"employee {employee_id}",
        "department_ids": [1],
        "userid": None,
        "avatar_mediaid": None,
    }


def customer_event(
    kind: str, tenant: int, employee_id: int, customer: int, event_id: str
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "tenant_id": tenant,
        "occurred_at": AT,
        "employee_id": employee_id,
        "customer_id": customer,
    }
    if kind == "customer-added":
        event |= {"industry_id": None, "source_id": None, "progress_id": None, "tag_ids": []}
    if kind == "opportunity-created":
        event["opportunity_id"] = 1
    return event


# tenant 31: 4 events (one delivered twice), employees 1 and 2, an opportunity;
# tenant 32: 2 events, employee 5, no opportunity
EVENTS = [
    employee(31, 1, "31-e1"),
    customer_event("customer-added", 31, 1, 100, "31-a"),
    customer_event("customer-added", 31, 1, 100, "31-a"),
    customer_event("follow-recorded", 31, 1, 100, "31-f"),
    customer_event("opportunity-created", 31, 2, 100, "31-o"),
    customer_event("customer-added", 32, 5, 200, "32-a"),
    customer_event("customer-lost", 32, 5, 200, "32-l"),
]
POISON = [b"not json", b'{"type": "customer-added"}']


def publish(env: dict[str, str], tmp_path: Path, events: list[dict[str, Any]]) -> None:
    lines = tmp_path / f"events-{time.monotonic_ns()}.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    done = custstats(env, "publish", str(lines))
    assert done.returncode == 0, done.stderr


def project_topic(env: dict[str, str]) -> None:
    done = custstats(env, "projector", "--idle-exit", "3")
    assert done.returncode == 0, done.stderr


def keys_under(client: redis.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=f"{prefix}:*", count=1000))


# --- status ------------------------------------------------------------------------------


def test_status_of_an_empty_deployment_says_so_and_writes_nothing(
    settings_env: EnvFactory,
    make_topic: TopicFactory,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    topic = make_topic(3)
    env = settings_env(topic)

    shown = status_json(env)
    assert shown == {
        "topic": topic,
        "key_prefix": key_prefix,
        "topic_found": True,
        "projection": None,
        "ready": {"ready": False, "caught_up": 0, "partitions": 0},
        "rebuild": None,
        "partitions": [
            {"partition": p, "beginning": 0, "end": 0, "applied": None, "lag": 0} for p in range(3)
        ],
        "lag": 0,
        "dead_letters": 0,
        "config_restored": False,
        "tenants": [],
    }
    human = custstats(env, "status")
    assert human.returncode == 0, human.stderr
    assert "projection    none yet (no projector has run)" in human.stdout
    check = custstats(env, "status", "--check")
    assert check.returncode == 1
    assert check.stdout.strip() == "not ok: no projection yet (no projector has run)"
    assert keys_under(redis_client, key_prefix) == []  # status is read only


def test_status_after_projecting_counts_events_tenants_and_dead_letters(
    settings_env: EnvFactory,
    make_topic: TopicFactory,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    topic = make_topic(3)
    env = settings_env(topic)
    publish(env, tmp_path, EVENTS)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for record in POISON:  # `publish` refuses poison, so it goes in around it
        producer.send(topic, key=b"poison", value=record)
    producer.flush()
    producer.close()
    project_topic(env)

    shown = status_json(env)
    written = {"version": 1, "format": PROJECTION_FORMAT, "format_expected": PROJECTION_FORMAT}
    assert shown["projection"] == written
    assert shown["ready"]["ready"] is True
    assert shown["lag"] == 0
    assert [row["lag"] for row in shown["partitions"]] == [0, 0, 0]
    applied = [row["applied"] or 0 for row in shown["partitions"]]
    assert sum(applied) == len(EVENTS) + len(POISON)
    assert shown["dead_letters"] == len(POISON)
    assert shown["rebuild"] is None
    tenants = {tenant["tenant_id"]: tenant for tenant in shown["tenants"]}
    assert sorted(tenants) == [31, 32]
    assert tenants[31] | {"version": None} == {
        "tenant_id": 31,
        "known": True,
        "registered": False,
        "projected": True,
        "events": 4,
        "duplicates": 1,
        "employees": 2,
        "opportunity": {"mode": "auto", "effective": True},
        "api_key": False,
        "version": None,
        "settings_restored": True,  # the projector read <topic>.config to its end
    }
    assert shown["config_restored"] is True
    assert (tenants[32]["events"], tenants[32]["duplicates"], tenants[32]["employees"]) == (2, 0, 1)
    assert tenants[32]["opportunity"] == {"mode": "auto", "effective": False}

    check = custstats(env, "status", "--check")
    assert (check.returncode, check.stdout.strip()) == (0, "ok: ready, lag 0")
    human = custstats(env, "status").stdout.splitlines()
    assert "lag           0" in human
    assert "dead letters  2" in human
    assert any(line.split()[:4] == ["31", "4", "1", "2"] and "on (auto)" in line for line in human)
    assert any(line.split()[:4] == ["32", "2", "0", "1"] and "off (auto)" in line for line in human)

    more = [customer_event("follow-recorded", 32, 5, 200 + n, f"32-more-{n}") for n in range(6)]
    publish(env, tmp_path, more)  # nobody projects these
    behind = status_json(env)
    assert 0 < behind["lag"] <= len(more)
    check = custstats(env, "status", "--check")
    assert check.returncode == 1
    assert check.stdout.startswith("not ok: ready, but ")


def test_status_shows_a_rebuild_in_progress(
    settings_env: EnvFactory, redis_client: redis.Redis, key_prefix: str
) -> None:
    env = settings_env()
    started = int(time.time()) - 125
    redis_client.hset(
        f"{key_prefix}:control",
        mapping={
            "current": 1,
            "rebuild": 2,
            "rebuild_done": 50,
            "rebuild_total": 200,
            "rebuild_started": started,
            "rebuild_heartbeat": int(time.time()),
        },
    )
    rebuild = status_json(env)["rebuild"]
    assert rebuild["version"] == 2
    assert (rebuild["done"], rebuild["total"], rebuild["percent"]) == (50, 200, 25.0)
    assert rebuild["started"] == started
    assert 125 <= rebuild["started_ago_s"] < 185
    human = custstats(env, "status").stdout
    assert "rebuild       v2: 50/200 (25.0%), started 2m" in human
    assert rebuild["stale"] is False and "STALE" not in human

    # the rebuild process died: its heartbeat stops, and status says so instead of "running"
    redis_client.hset(f"{key_prefix}:control", "rebuild_heartbeat", int(time.time()) - 600)
    assert status_json(env)["rebuild"]["stale"] is True
    human = custstats(env, "status").stdout
    assert "STALE: no rebuild process is running (it stopped); `custstats rebuild` resumes it" in (
        human
    )


@pytest.mark.parametrize(
    ("broken", "server", "args"),
    [
        ("CUSTSTATS_REDIS_URL", "Redis", ["status"]),
        ("CUSTSTATS_REDIS_URL", "Redis", ["status", "--check"]),
        ("CUSTSTATS_KAFKA_BOOTSTRAP", "Kafka", ["status", "--check", "--json"]),
    ],
)
def test_status_with_a_server_unreachable_exits_2_with_one_line(
    settings_env: EnvFactory, broken: str, server: str, args: list[str]
) -> None:
    port = free_port()
    dead = f"redis://:hunter2@127.0.0.1:{port}/0" if server == "Redis" else f"127.0.0.1:{port}"
    env = settings_env() | {broken: dead}
    start = time.monotonic()
    done = custstats(env, *args)
    assert time.monotonic() - start < 20
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"custstats status: cannot reach {server} at ")
    assert "hunter2" not in done.stderr


# --- tenant ------------------------------------------------------------------------------


@pytest.fixture
def api(redis_url: str, redis_client: redis.Redis, key_prefix: str) -> Iterator[TestClient]:
    """The API of a deployment whose operator settings are restored (no follower runs here)."""
    mark_settings_restored(redis_client, key_prefix)
    app = api_app(redis_url, key_prefix)
    with TestClient(app) as client:
        yield client


def answer(api: TestClient, tenant: int, key: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-Api-Key"] = key
    response = api.post(ENDPOINT.format(tenant), content=b"{}", headers=headers)
    assert response.status_code == 200, response.text
    decoded: dict[str, Any] = orjson.loads(response.content)
    return decoded


def shown(env: dict[str, str], tenant: int) -> dict[str, Any]:
    done = custstats(env, "tenant", "show", str(tenant), "--json")
    assert done.returncode == 0, done.stderr
    info: dict[str, Any] = json.loads(done.stdout)
    return info


def test_a_registered_tenant_answers_an_empty_page(
    settings_env: EnvFactory, api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    env = settings_env()
    create_version(redis_client, key_prefix)  # a projector ran and caught up with nothing
    mark_projection_complete(redis_client, key_prefix)
    assert answer(api, 40) == INVALID_APPID
    assert shown(env, 40)["known"] is False

    done = custstats(env, "tenant", "register", "40")
    assert (done.returncode, done.stdout.strip()) == (0, "tenant 40 registered")
    again = custstats(env, "tenant", "register", "40")
    assert (again.returncode, again.stdout.strip()) == (0, "tenant 40 was already registered")
    assert shown(env, 40) | {"version": None} == {
        "tenant_id": 40,
        "known": True,
        "registered": True,
        "projected": False,
        "events": 0,
        "duplicates": 0,
        "employees": 0,
        "opportunity": {"mode": "auto", "effective": False},
        "api_key": False,
        "version": None,
        "settings_restored": True,  # the deployment's settings were restored (marked above)
    }
    page = answer(api, 40)
    assert (page["result"], page["data"]["data"], page["data"]["total"]) == (1, [], 0)

    project(redis_client, key_prefix, [[employee(41, 1, "41-e1")]])  # another tenant's events
    page = answer(api, 40)
    assert (page["result"], page["data"]["data"], page["data"]["total"]) == (1, [], 0)
    assert answer(api, 42) == INVALID_APPID
    status = status_json(env)
    assert [tenant["tenant_id"] for tenant in status["tenants"]] == [40, 41]


@pytest.mark.parametrize("given", ["0", "-3", "abc", "1.5", "٣", "9223372036854775808"])
def test_tenant_ids_the_api_cannot_answer_are_refused(
    settings_env: EnvFactory, redis_client: redis.Redis, key_prefix: str, given: str
) -> None:
    env = settings_env()
    for args in (["register", given], ["show", given], ["set", given, "--opportunity", "on"]):
        done = custstats(env, "tenant", *args)
        assert done.returncode == 2
        assert "tenant id must be an integer from 1 to 9223372036854775807" in done.stderr
    assert keys_under(redis_client, key_prefix) == []


def test_opportunity_mode_decides_whether_the_count_is_shown(
    settings_env: EnvFactory, api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    env = settings_env()
    project(
        redis_client,
        key_prefix,
        [
            [
                customer_event("opportunity-created", 50, 1, 100, "50-o"),
                customer_event("customer-added", 51, 1, 100, "51-a"),
            ]
        ],
    )

    def columns(tenant: int) -> bool:
        (row,) = answer(api, tenant)["data"]["data"]
        return "opportunity_count" in row

    assert (columns(50), columns(51)) == (True, False)  # auto: on once an opportunity was seen

    done = custstats(env, "tenant", "set", "50", "--opportunity", "off")
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "tenant 50: opportunity plugin off (now off)",
    )
    assert columns(50) is False
    assert shown(env, 50)["opportunity"] == {"mode": "off", "effective": False}

    assert custstats(env, "tenant", "set", "51", "--opportunity", "on").returncode == 0
    assert columns(51) is True
    (row,) = answer(api, 51)["data"]["data"]
    assert row["opportunity_count"] == 0

    done = custstats(env, "tenant", "set", "50", "--opportunity", "auto")
    assert done.stdout.strip() == "tenant 50: opportunity plugin auto (now on)"
    assert columns(50) is True  # back to what the events say
    assert shown(env, 50)["opportunity"] == {"mode": "auto", "effective": True}
    text = custstats(env, "tenant", "show", "50").stdout
    assert "opportunity  on (auto: an opportunity event was projected)" in text


def test_api_key_round_trip_never_shows_the_key(
    settings_env: EnvFactory, api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    env = settings_env()
    project(redis_client, key_prefix, [[employee(60, 1, "60-e1")]])
    key = "s3cret-Key.42"
    secrets = (key, api_key_digest(key))

    done = custstats(env, "tenant", "set", "60", "--api-key-stdin", stdin=f"{key}\n")
    assert (done.returncode, done.stdout.strip()) == (0, "tenant 60: API key set")
    assert shown(env, 60)["api_key"] is True
    outputs = [
        done,
        custstats(env, "tenant", "show", "60"),
        custstats(env, "tenant", "show", "60", "--json"),
        custstats(env, "status"),
        custstats(env, "status", "--json"),
    ]
    for output in outputs:
        assert not any(secret in output.stdout + output.stderr for secret in secrets)

    assert answer(api, 60) == INVALID_APPID
    assert answer(api, 60, "wrong") == INVALID_APPID
    assert answer(api, 60, key)["result"] == 1

    other = "another-key"
    assert custstats(env, "tenant", "set", "60", "--api-key", other).returncode == 0
    assert answer(api, 60, key) == INVALID_APPID
    assert answer(api, 60, other)["result"] == 1

    empty = custstats(env, "tenant", "set", "60", "--api-key-stdin", stdin="\n")
    assert empty.returncode == 2
    assert "the API key is empty" in empty.stderr
    assert answer(api, 60, other)["result"] == 1  # a refused key changes nothing

    done = custstats(env, "tenant", "set", "60", "--clear-api-key")
    assert (done.returncode, done.stdout.strip()) == (0, "tenant 60: API key cleared")
    assert answer(api, 60)["result"] == 1
    assert shown(env, 60)["api_key"] is False


def test_tenant_commands_with_redis_unreachable_exit_2(settings_env: EnvFactory) -> None:
    env = settings_env() | {"CUSTSTATS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = custstats(env, "tenant", "set", "70", "--api-key-stdin", stdin="k\n")
    assert done.returncode == 2
    assert done.stderr.startswith("custstats tenant set: cannot reach Redis at redis://127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1
