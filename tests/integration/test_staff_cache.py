"""The API keeps each tenant's employees between requests; every change shows at once."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.harness import SHANGHAI, project
from tests.reference import reference_rows, reference_sorted
from tests.support.api import api_app, mark_settings_restored
from tests.support.servers import delete_prefixed

pytestmark = pytest.mark.integration
URL = "/business/7/plugin/CustomerManage/getStatisticsList"


def profile(event_id: str, employee: int, name: str, at: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "employee-upserted",
        "tenant_id": 7,
        "occurred_at": at,
        "employee_id": employee,
        "name": name,
        "department_ids": [1],
        "userid": None,
        "avatar_mediaid": None,
    }


def follow(event_id: str, employee: int, customer: int, at: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "follow-recorded",
        "tenant_id": 7,
        "occurred_at": at,
        "employee_id": employee,
        "customer_id": customer,
    }


def rows(http: TestClient) -> list[dict[str, Any]]:
    body = http.post(URL, json={"order_by": "id", "order": "asc", "per_page": 100}).json()
    data: list[dict[str, Any]] = body["data"]["data"]
    return data


def expected(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = reference_rows(events, 7, zone=SHANGHAI)
    return [
        {key: value for key, value in row.items() if key != "opportunity_count"}
        for row in reference_sorted(table.values(), "id", "asc")
    ]


def test_profiles_new_employees_and_a_rebuilt_store_show_immediately(
    redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    first = [profile("p1", 1, "Alice", 1_700_000_000), follow("f1", 1, 10, 1_700_000_100)]
    project(redis_client, key_prefix, [first])
    mark_settings_restored(redis_client, key_prefix)
    with TestClient(api_app(redis_url, key_prefix)) as http:
        assert rows(http) == expected(first)
        assert rows(http) == expected(first)  # answered from the kept staff

        renamed = [profile("p2", 1, "Alicia", 1_700_000_500), follow("f2", 2, 11, 1_700_000_600)]
        project(redis_client, key_prefix, [renamed])
        assert rows(http) == expected(first + renamed)

        # The store is wiped and refilled with employees indexed in another order.
        delete_prefixed(redis_url, key_prefix)
        other = [
            follow("g1", 2, 11, 1_700_000_000),
            follow("g2", 2, 12, 1_700_000_001),
            profile("q1", 1, "Bob", 1_700_000_002),
            profile("q2", 2, "Carol", 1_700_000_003),
            follow("g3", 1, 10, 1_700_000_004),
        ]  # as many employees and profile writes as before: only the version token differs
        project(redis_client, key_prefix, [other])
        mark_settings_restored(redis_client, key_prefix)  # the wipe took the marker too
        assert rows(http) == expected(other)
