"""Format 4's log compaction on a real Redis: every tail compacted, and racing appends kept."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings

from projector import codec
from projector.layout import Layout
from projector.store import ProjectorStore
from tests.contract import Scenario, scenarios
from tests.harness import SHANGHAI, engine_rows, project, statistics_query
from tests.reference import reference_rows, reference_sorted
from tests.support.servers import delete_prefixed

pytestmark = pytest.mark.integration


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_answers_equal_the_reference_when_every_append_is_compacted(
    scenario: Scenario, redis_url: str
) -> None:
    events, batches, asked = scenario
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(redis_url)
    try:
        with mock.patch.object(codec, "TAIL_MIN", 0):
            project(client, prefix, batches)
        for reference_query in asked:
            expected = reference_sorted(
                reference_rows(events, **reference_query).values(), "customer_count", "desc"
            )
            rows, _ = engine_rows(
                lambda: redis.asyncio.Redis.from_url(redis_url),
                prefix,
                reference_query["tenant_id"],
                statistics_query(reference_query, per_page=100),
                SHANGHAI,
            )
            assert rows == expected, reference_query
    finally:
        delete_prefixed(redis_url, prefix)
        client.close()


def records(*items: tuple[int, int]) -> bytes:
    return codec.pack_log(np.array([c for c, _ in items]), np.array([v for _, v in items]))


def test_a_compaction_racing_an_append_keeps_the_append(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    layout = Layout(key_prefix, 1)
    store = ProjectorStore(redis_client, layout)
    base, tail = layout.log(1, "t3", 24_300), layout.log_tail(1, "t3", 24_300)
    redis_client.set(base, records((5, 1), (8, -1)))
    redis_client.append(tail, records((8, 1), (9, 2)))
    real_mget = redis_client.mget

    def mget_then_append(keys: list[str]) -> Any:
        values = real_mget(keys)
        redis_client.append(tail, records((5, 7)))
        return values

    with mock.patch.object(redis_client, "mget", mget_then_append):
        assert store.compact_logs([(base, tail)]) == 1
    assert redis_client.get(base) == records((5, 1), (9, 2))
    assert redis_client.get(tail) == records((5, 7))
