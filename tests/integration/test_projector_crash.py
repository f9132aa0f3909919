"""The real projector process, killed with SIGKILL mid-stream and restarted, ends exactly right."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from projector.control import CURRENT
from projector.versions import field_version
from tests.harness import SHANGHAI, engine_rows, statistics_query
from tests.messy import messy_events, poison_lines
from tests.reference import reference_rows, reference_sorted
from tests.support.projector import (
    QUERIES,
    applied,
    dead_letter_records,
    publish,
    start_projector,
)
from tests.support.servers import Deployment

pytestmark = pytest.mark.integration


def test_sigkill_mid_stream_loses_and_doubles_nothing(deployment: Deployment) -> None:
    topic = deployment.make_topic(4)
    events = messy_events(11, 12_000)
    poison = poison_lines(5, 26)
    publish(deployment.bootstrap, topic, events, list(poison))
    total_records = len(events) + len(poison)
    env = deployment.env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "150"}

    kills = 0
    while kills < 4:
        process = start_projector(env, deployment.tmp_path / "projector.log")
        before = applied(deployment.client, deployment.prefix, topic)
        deadline = time.monotonic() + 60
        while applied(deployment.client, deployment.prefix, topic) < before + 1500:
            assert process.poll() is None, (deployment.tmp_path / "projector.log").read_text()
            assert time.monotonic() < deadline, "projector made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
    assert applied(deployment.client, deployment.prefix, topic) < total_records, (
        "stream ended before kills"
    )

    final = start_projector(env, deployment.tmp_path / "projector.log", "--idle-exit", "4")
    assert final.wait(timeout=120) == 0, (deployment.tmp_path / "projector.log").read_text()
    assert applied(deployment.client, deployment.prefix, topic) == total_records

    for reference_query in QUERIES:
        for order_by in ("customer_count", "follow_last_date"):
            expected = reference_sorted(
                reference_rows(events, zone=SHANGHAI, **reference_query).values(), order_by, "desc"
            )
            query = statistics_query(reference_query, per_page=100, order_by=order_by)
            rows, total = engine_rows(
                lambda: redis.asyncio.Redis.from_url(deployment.redis_url),
                deployment.prefix,
                reference_query["tenant_id"],
                query,
            )
            assert total == len(expected)
            assert rows == expected[:100], reference_query

    version = field_version(deployment.client, deployment.prefix, CURRENT)
    counted = deployment.client.hget(f"{deployment.prefix}:v{version}:dlq:{topic}", "count")
    assert int(counted or 0) == len(poison)
    letters = dead_letter_records(deployment.bootstrap, topic)
    sources = {
        (dict(record.headers)["source-partition"], dict(record.headers)["source-offset"])
        for record in letters
    }
    assert len(sources) == len(poison), "every poison record is dead-lettered (at least once)"
    assert all(dict(record.headers)["reason"] for record in letters)


def test_sigterm_finishes_the_batch_and_exits_cleanly(deployment: Deployment) -> None:
    topic = deployment.make_topic(2)
    events = messy_events(3, 6000)
    publish(deployment.bootstrap, topic, events, [])
    env = deployment.env(topic) | {"CUSTSTATS_BATCH_MAX_RECORDS": "100"}
    process = start_projector(env, deployment.tmp_path / "projector.log")
    deadline = time.monotonic() + 60
    while applied(deployment.client, deployment.prefix, topic) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    stopped_at = applied(deployment.client, deployment.prefix, topic)
    assert 0 < stopped_at < len(events)
    time.sleep(1)
    assert applied(deployment.client, deployment.prefix, topic) == stopped_at, (
        "nothing written after exit"
    )
