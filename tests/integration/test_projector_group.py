"""Several projector instances share the partitions; rebalances (a member killed, one added)
keep every answer exact."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from tests.harness import SHANGHAI, engine_rows, statistics_query
from tests.messy import messy_events
from tests.reference import reference_rows, reference_sorted
from tests.support.projector import QUERIES, applied, publish, start_projector
from tests.support.servers import Deployment

pytestmark = pytest.mark.integration


def test_instances_sharing_the_group_survive_rebalances_exactly(deployment: Deployment) -> None:
    topic = deployment.make_topic(4)
    events = messy_events(29, 12_000)
    publish(deployment.bootstrap, topic, events, [])
    env = deployment.env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "100"}
    log = deployment.tmp_path / "projectors.log"

    def wait_applied(at_least: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while applied(deployment.client, deployment.prefix, topic) < at_least:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    first = start_projector(env, log)
    second = start_projector(env, log)
    third = None
    try:
        wait_applied(3000)
        os.kill(first.pid, signal.SIGKILL)  # its partitions move after the session timeout
        first.wait()
        wait_applied(6000)
        third = start_projector(env, log)  # joining triggers another rebalance
        wait_applied(len(events), timeout=120)
        time.sleep(1)
        assert applied(deployment.client, deployment.prefix, topic) == len(events)
    finally:
        for process in (second, third):
            if process is not None:
                process.send_signal(signal.SIGTERM)
        for process in (second, third):
            if process is not None:
                assert process.wait(timeout=30) == 0, log.read_text()

    for reference_query in QUERIES:
        expected = reference_sorted(
            reference_rows(events, zone=SHANGHAI, **reference_query).values(), "id", "asc"
        )
        rows, total = engine_rows(
            lambda: redis.asyncio.Redis.from_url(deployment.redis_url),
            deployment.prefix,
            reference_query["tenant_id"],
            statistics_query(reference_query, per_page=100, order_by="id", order="asc"),
        )
        assert total == len(expected)
        assert rows == expected[:100], reference_query
