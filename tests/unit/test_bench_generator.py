"""The benchmark's generator: seeded, valid per the event schema, roughly chronological."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime

import orjson
import pytest

from bench.generate import SCALES, Scale, generate
from events.decode import Poison, decode

TINY = Scale(
    "tiny", customers=300, events=3_000, small_tenants=2, employees=20, departments=4,
    days=30, small_employees=3, small_customers=20, small_events=200,
)  # fmt: skip


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(generate(TINY))


def test_same_seed_same_log(lines: list[bytes]) -> None:
    assert list(generate(TINY)) == lines


def test_every_line_is_a_valid_event(lines: list[bytes]) -> None:
    poison = [line for line in lines if isinstance(decode(line), Poison)]
    assert poison == []


def test_size_and_mix(lines: list[bytes]) -> None:
    events = [orjson.loads(line) for line in lines]
    unique = {event["event_id"] for event in events}
    assert 0.9 * TINY.total_events <= len(unique) <= TINY.total_events
    kinds = Counter(event["type"] for event in events)
    assert kinds["follow-recorded"] > kinds["customer-updated"] > kinds["customer-lost"] > 0
    assert kinds["opportunity-created"] > 0
    assert {event["tenant_id"] for event in events} == {25, 1001, 1002}
    big = {e["customer_id"] for e in events if e["tenant_id"] == 25 and "customer_id" in e}
    assert len(big) == TINY.customers


def test_roughly_chronological_with_some_disorder(lines: list[bytes]) -> None:
    stamps = [datetime.fromisoformat(orjson.loads(line)["occurred_at"]) for line in lines]
    inversions = sum(1 for before, after in itertools.pairwise(stamps) if after < before)
    assert 0 < inversions < len(stamps) * 0.2
    latest = stamps[0]
    for stamp in stamps:
        latest = max(latest, stamp)
        assert (latest - stamp).total_seconds() < 2 * 86_400  # late by a day at most


def test_duplicates_are_rare_redeliveries(lines: list[bytes]) -> None:
    counts = Counter(lines)
    assert all(count <= 2 for count in counts.values())
    assert sum(count - 1 for count in counts.values()) < len(lines) * 0.01


def test_scales_grow() -> None:
    assert SCALES["S0"].total_events == 200_000
    assert SCALES["S1"].events == 5_000_000 and SCALES["S1"].customers == 500_000
    assert SCALES["S1q"].events * 4 == SCALES["S1"].events
