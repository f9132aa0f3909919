"""The freshness/completeness contract as the projector writes it, in-process (MemorySource into
fakeredis through the production pipeline): under continuous traffic (no idle poll) the ready
marks are written once the applied offsets reach the targets, with the ends and applied_at in the
same write; a new version is incomplete until then."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry

from projector import control
from projector.metrics import ProjectorMetrics
from projector.runner import ProjectorRunner
from projector.source import MemoryRecord, MemorySource
from tests.contract import follow
from tests.harness import TOPIC, config


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    server = fakeredis.FakeRedis()
    yield server
    server.close()


def traffic(polls: int, per_poll: int, partitions: int = 2) -> MemorySource:
    """Polls that are never empty: records on every partition in each (continuous traffic)."""
    cut: list[list[MemoryRecord]] = []
    for number in range(polls):
        poll = []
        for partition in range(partitions):
            for n in range(per_poll):
                offset = number * per_poll + n
                value = orjson.dumps(follow(f"e-{partition}-{offset}", 1_700_000_000 + offset))
                poll.append(MemoryRecord(TOPIC, partition, offset, None, value))
        cut.append(poll)
    return MemorySource(cut, partition_count=partitions)


def stored(client: redis.Redis, runner: ProjectorRunner) -> tuple[bool, dict[int, int]]:
    layout = runner.layout
    marks = client.hgetall(layout.ready_key)
    offsets = {int(p): int(o) for p, o in client.hgetall(layout.offsets(TOPIC)).items()}
    return control.readiness(marks).ready, offsets  # type: ignore[arg-type]


def test_marks_are_written_under_continuous_traffic(client: redis.Redis) -> None:
    source = traffic(polls=12, per_poll=5)
    runner = ProjectorRunner(config("p"), client, source=source)
    seen: list[tuple[bool, dict[int, int]]] = []
    runner.run(max_events=60, on_batch=lambda stats: seen.append(stored(client, runner)))
    # never idle: the marks came with the batches
    fresh = control.freshness(client.hgetall(runner.layout.fresh_key))  # type: ignore[arg-type]
    assert fresh.targets == {0: 5, 1: 5}  # the ends the first poll saw (highwaters), HSETNX
    assert fresh.ends == seen[-1][1]  # the ends seen with the last batch, in its write
    assert fresh.applied_at_ms is not None and fresh.applied_at_ms > 1_700_000_000_000
    assert seen[-1][0] is True
    for ready, offsets in seen:
        if ready:
            assert all(offsets.get(p, 0) >= fresh.targets[p] for p in (0, 1))


def test_a_target_set_first_wins_and_the_version_is_incomplete_until_reached(
    client: redis.Redis,
) -> None:
    source = traffic(polls=6, per_poll=5)
    runner = ProjectorRunner(config("p"), client, source=source)
    client.hset(
        runner.layout.fresh_key, mapping={control.target_field(0): 25, control.target_field(1): 25}
    )
    seen: list[tuple[bool, dict[int, int]]] = []
    runner.run(max_events=60, on_batch=lambda stats: seen.append(stored(client, runner)))
    complete_at = [offsets for ready, offsets in seen if ready]
    assert complete_at, "complete once both partitions reached 25"
    assert min(min(offsets.values()) for offsets in complete_at) >= 25
    assert [ready for ready, _ in seen][:4] == [False] * 4  # 5, 10, 15, 20 < 25
    fresh = control.freshness(client.hgetall(runner.layout.fresh_key))  # type: ignore[arg-type]
    assert fresh.targets == {0: 25, 1: 25}


def test_metrics_count_a_known_workload(client: redis.Redis) -> None:
    poison = [MemoryRecord(TOPIC, 0, 10 + n, None, b"{not json") for n in range(3)]
    source = traffic(polls=2, per_poll=5, partitions=1)
    source.polls.append(poison)
    registry = CollectorRegistry()
    runner = ProjectorRunner(config("p"), client, source=source, metrics=ProjectorMetrics(registry))
    runner.dead_letters = None  # no broker in-process: the poison is counted, not sent
    runner.run(until_caught_up=True)
    value = registry.get_sample_value
    assert value("custstats_events_applied_total", {"type": "follow-recorded"}) == 10
    assert value("custstats_batch_size_events_count") == 3
    assert value("custstats_partition_lag", {"topic": TOPIC, "partition": "0"}) == 0
    assert value("custstats_partition_applied_offset", {"topic": TOPIC, "partition": "0"}) == 13
