"""Events at the edges of SPEC §1, projected into real Redis and read by the query engine."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.harness import SHANGHAI, engine_rows, project, statistics_query
from tests.reference import reference_rows

pytestmark = pytest.mark.integration

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def added(tenant: int, at: Any, **fields: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "industry_id": None,
        "source_id": None,
        "progress_id": None,
        "tag_ids": [],
    }
    return {
        "event_id": f"{tenant}-{at}",
        "type": "customer-added",
        "tenant_id": tenant,
        "occurred_at": at,
        "employee_id": 1,
        "customer_id": 1,
        **attributes,
        **fields,
    }


def rows(redis_url: str, prefix: str, tenant: int, **query: Any) -> list[dict[str, Any]]:
    found, _ = engine_rows(
        lambda: redis.asyncio.Redis.from_url(redis_url),
        prefix,
        tenant,
        statistics_query(query, per_page=100),
    )
    return found


EDGES = [
    added(INT64_MAX, "2016-12-31T23:59:60Z", employee_id=-5, customer_id=INT64_MIN),
    added(7, "2024-06-01t02:00:00z", employee_id=INT64_MAX, tag_ids=[INT64_MAX, INT64_MIN]),
    added(8, "1969-12-31T19:00:00-05:00", industry_id=INT64_MIN, tag_ids=list(range(100))),
]


@pytest.mark.parametrize("event", EDGES, ids=["tenant-2^63-1", "lowercase-t-z", "epoch"])
def test_edge_events_are_projected_and_queryable(
    event: dict[str, Any], redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    project(redis_client, key_prefix, [[event]])
    tenant = event["tenant_id"]
    expected = list(reference_rows([event], tenant, zone=SHANGHAI).values())
    assert rows(redis_url, key_prefix, tenant) == expected
    assert expected[0]["new_customer_count"] == 1


def test_the_last_valid_second_is_shown_as_the_latest_date(
    redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    event = added(9, "2106-02-07T06:28:15Z")
    project(redis_client, key_prefix, [[event]])
    assert rows(redis_url, key_prefix, 9)[0]["customer_last_date"] == "2106-02-07 14:28:15"
