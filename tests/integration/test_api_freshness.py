"""Issue 10, findings 3 and 4, on the read side: no partial numbers, no protected tenant served
without its key after Redis lost its state, and the freshness of every answer (SPEC §3, §4).

The projection is written by the product's projector (tests.harness.project); what a
self-heal or a restore in progress leaves in Redis is then set with the helpers of
tests/support/api.py, and the real app answers through its ASGI interface.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

from api.freshness import applied_at_text
from projector import control
from projector.layout import ControlLayout
from projector.versions import PROJECTION_FORMAT
from tests.harness import layout_of, project
from tests.support.api import api_app, api_config, mark_projection_complete, mark_settings_restored
from tests.support.servers import delete_prefixed

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.integration

ENDPOINT = "/business/{}/plugin/CustomerManage/getStatisticsList"
TOPIC = "customer-events"
INVALID_APPID = {"errcode": 500, "errmsg": "invalid appid"}
RESTORING = {"result": 0, "msg": "operator settings are being restored", "data": []}


def rebuilding(percent: int) -> dict[str, Any]:
    return {"result": 0, "msg": f"statistics are being rebuilt ({percent}%)", "data": []}


def events(tenant: int, employees: int, first_id: int = 0) -> list[dict[str, Any]]:
    """One customer added per employee of `tenant`, each with a profile."""
    out: list[dict[str, Any]] = []
    for index in range(employees):
        employee = 100 + index
        common = {"tenant_id": tenant, "employee_id": employee}
        out.append(
            {
                **common,
                "event_id": f"p{tenant}-{first_id + index}",
                "type": "employee-upserted",
                "occurred_at": "2023-01-01T09:00:00+08:00",
                "name": f"e{employee}",
                "department_ids": [1],
                "userid": None,
                "avatar_mediaid": None,
            }
        )
        out.append(
            {
                **common,
                "event_id": f"c{tenant}-{first_id + index}",
                "type": "customer-added",
                "occurred_at": "2023-03-01T10:00:00+08:00",
                "customer_id": first_id + index + 1,
                "industry_id": None,
                "source_id": None,
                "progress_id": None,
                "tag_ids": [],
            }
        )
    return out


@pytest.fixture
def api(redis_url: str, key_prefix: str) -> Iterator[TestClient]:
    with TestClient(api_app(redis_url, key_prefix), raise_server_exceptions=False) as client:
        yield client


def ask(api: TestClient, tenant: int, key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"} | ({"X-Api-Key": key} if key else {})
    response = api.post(ENDPOINT.format(tenant), content=b"{}", headers=headers)
    if response.status_code == 503:
        assert response.headers["retry-after"] == "5"
    assert response.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = orjson.loads(response.content)
    return response.status_code, answer


def total(answer: dict[str, Any]) -> int:
    assert answer["result"] == 1, answer
    count: int = answer["data"]["total"]
    return count


def test_every_answer_carries_lag_applied_at_and_no_store(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    project(redis_client, key_prefix, [events(25, 3)])
    layout = mark_projection_complete(redis_client, key_prefix)
    assert layout is not None
    applied = int(redis_client.hget(layout.offsets(TOPIC), "0"))  # type: ignore[arg-type]
    written = redis_client.hget(layout.fresh_key, control.FRESH_APPLIED_AT)
    assert written is not None  # the projector records its last batch
    response = api.post(ENDPOINT.format(25), json={})
    assert response.headers["x-custstats-applied-at"] == applied_at_text(int(written))
    redis_client.delete(layout.fresh_key)  # as an older projector leaves it: no freshness hash
    response = api.post(ENDPOINT.format(25), json={})
    assert response.headers["x-custstats-lag"] == "0"
    assert response.headers["x-custstats-applied-at"] == "-"
    fresh = {control.end_field(0): applied + 7, control.FRESH_APPLIED_AT: 1_764_604_800_123}
    mark_projection_complete(redis_client, key_prefix, fresh=fresh)
    for answer in (
        api.post(ENDPOINT.format(25), json={}),
        api.post(ENDPOINT.format(25), json={"per_page": 0}),  # a parameter error
        api.get(ENDPOINT.format(25)),
    ):
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-custstats-lag"] == "7"
        assert answer.headers["x-custstats-applied-at"] == "2025-12-01T16:00:00.123Z"


def test_a_self_heal_in_progress_answers_503_with_its_progress_never_partial_numbers(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Finding 4: Redis lost the projection; the projector re-creates the version and replays.
    Halfway through, tenant 25 is half there and tenant 26 not yet: neither is answered."""
    mark_settings_restored(redis_client, key_prefix)
    every = events(25, 4) + events(26, 2, first_id=50)
    project(redis_client, key_prefix, [every[:4]])  # half of tenant 25, nothing of 26
    layout = layout_of(redis_client, key_prefix)
    redis_client.delete(layout.ready_key)
    redis_client.hset(layout.fresh_key, control.target_field(0), len(every))
    assert ask(api, 25) == (503, rebuilding(33))
    assert ask(api, 26) == (503, rebuilding(33))  # not "invalid appid": it may be still to come
    project(redis_client, key_prefix, [every[4:]])  # the projector marks complete at the end
    status, answer = ask(api, 25)
    assert (status, total(answer)) == (200, 4)
    assert total(ask(api, 26)[1]) == 2
    assert ask(api, 27) == (200, INVALID_APPID)  # unknown, and now knowably so


def test_a_projection_in_a_format_this_code_cannot_read_is_being_rebuilt(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    mark_settings_restored(redis_client, key_prefix)
    project(redis_client, key_prefix, [events(25, 1)])
    redis_client.set(layout_of(redis_client, key_prefix).format_key, PROJECTION_FORMAT + 1)
    assert ask(api, 25) == (503, rebuilding(0))
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert "format" in ready.json()["reason"]


def test_after_redis_lost_its_state_a_protected_tenant_is_never_served_without_its_key(
    api: TestClient, redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Finding 3: the projection comes back by replay before the settings do."""
    config = ControlLayout(key_prefix).tenant_config(25)
    every = events(25, 2)
    project(redis_client, key_prefix, [every])
    mark_settings_restored(redis_client, key_prefix)
    redis_client.hset(config, control.CONFIG_API_KEY, control.api_key_digest("s3cret"))
    assert ask(api, 25) == (200, INVALID_APPID)
    assert total(ask(api, 25, "s3cret")[1]) == 2

    delete_prefixed(redis_url, key_prefix)  # Redis restarted without persistence
    project(redis_client, key_prefix, [every])  # the projection is back, complete
    assert ask(api, 25) == (503, RESTORING)
    assert ask(api, 25, "s3cret") == (503, RESTORING)
    assert ask(api, 99) == (503, RESTORING)
    assert api.get("/readyz").json()["reason"].startswith("operator settings")

    redis_client.hset(config, control.CONFIG_API_KEY, control.api_key_digest("s3cret"))
    assert ask(api, 25) == (200, INVALID_APPID)  # a restored key is enforced at once
    assert total(ask(api, 25, "s3cret")[1]) == 2
    mark_settings_restored(redis_client, key_prefix)
    assert ask(api, 99) == (200, INVALID_APPID)


def test_readyz_needs_completeness_restored_settings_and_a_bounded_lag(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    app = api_app(redis_url, key_prefix, ready_max_lag=10)
    assert api_config(redis_url, key_prefix).ready_max_lag == 10_000
    with TestClient(app, raise_server_exceptions=False) as api:
        assert api.get("/readyz").json()["reason"] == "no projection yet"
        project(redis_client, key_prefix, [events(25, 2)])
        assert api.get("/readyz").json()["reason"].startswith("operator settings")
        layout = mark_projection_complete(redis_client, key_prefix)
        assert layout is not None
        applied = int(redis_client.hget(layout.offsets(TOPIC), "0"))  # type: ignore[arg-type]
        mark_projection_complete(
            redis_client, key_prefix, fresh={control.end_field(0): applied + 11}
        )
        behind = api.get("/readyz")
        assert (behind.status_code, behind.json()["lag"]) == (503, 11)
        mark_projection_complete(
            redis_client, key_prefix, fresh={control.end_field(0): applied + 10}
        )
        ready = api.get("/readyz")
        assert (ready.status_code, ready.json()["ready"], ready.json()["lag"]) == (200, True, 10)
        redis_client.delete(layout.ready_key)
        assert api.get("/readyz").json()["reason"] == "the projection is being rebuilt from the log"
