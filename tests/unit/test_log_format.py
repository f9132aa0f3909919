"""Format 4: the filter month log (codec), its compaction in Redis, and raw latest seconds."""

from __future__ import annotations

import datetime
import random
from typing import Any
from unittest import mock

import fakeredis
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projector import codec
from projector.codec import (
    LOG_RECORD,
    RECORD_MAX,
    compact,
    log_code,
    log_records,
    pack_counter_blob,
    pack_latest_blob,
    pack_log,
)
from projector.layout import Layout
from projector.store import ProjectorStore
from tests.contract import Scenario, added, follow, scenarios
from tests.harness import SHANGHAI, engine_rows, project, statistics_query
from tests.reference import reference_rows, reference_sorted

Delta = tuple[int, int]
"""(code, value)"""
codes = st.builds(log_code, st.integers(0, 30), st.integers(0, (1 << 27) - 1)).map(int)
deltas = st.lists(st.tuples(codes, st.integers(-70_000, 70_000)), max_size=60)


def packed(items: list[Delta]) -> bytes:
    """Records as one batch appends them to a tail: merged within the batch."""
    return codec.pack_log(
        np.array([c for c, _ in items], np.int64), np.array([v for _, v in items])
    )


def net(items: list[Delta]) -> dict[int, int]:
    sums: dict[int, int] = {}
    for code, value in items:
        sums[code] = sums.get(code, 0) + value
    return {code: value for code, value in sums.items() if value}


def decoded(*blobs: Any) -> dict[int, int]:
    day, slot, value = log_records(*blobs)
    return dict(zip((log_code(day, slot)).tolist(), value.tolist(), strict=True))


@settings(max_examples=200, deadline=None)
@given(deltas, st.randoms(use_true_random=False), st.integers(1, 6))
def test_compact_is_idempotent_and_free_of_order_and_split(
    items: list[Delta], shuffler: random.Random, parts: int
) -> None:
    whole = compact(packed(items))
    shuffled = list(items)
    shuffler.shuffle(shuffled)
    cuts = sorted(shuffler.randint(0, len(shuffled)) for _ in range(parts - 1))
    pieces = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    blobs = [packed(piece) for piece in pieces]
    assert compact(*blobs) == whole
    assert compact(*reversed(blobs)) == whole
    assert compact(whole) == whole
    assert compact(whole, b"".join(blobs)) == compact(packed(items + items))
    assert decoded(whole) == decoded(*blobs) == net(items)
    records = np.frombuffer(whole, LOG_RECORD)
    assert (np.diff(records["c"].astype(np.int64)) >= 0).all(), "sorted by code"
    assert (records["v"] != 0).all(), "zero-free"


@pytest.mark.parametrize(
    ("value", "records"),
    [
        (RECORD_MAX, [RECORD_MAX]),
        (RECORD_MAX + 1, [RECORD_MAX, 1]),
        (-RECORD_MAX - 1, [-RECORD_MAX, -1]),
        (3 * RECORD_MAX + 5, [RECORD_MAX, RECORD_MAX, RECORD_MAX, 5]),
        (0, []),
    ],
    ids=["32767", "32768", "-32768", "98306", "zero"],
)
def test_a_cell_beyond_i16_is_split_into_records_and_sums_back(
    value: int, records: list[int]
) -> None:
    code = int(log_code(4, 17))
    blob = pack_log(np.array([code]), np.array([value]))
    stored = np.frombuffer(blob, LOG_RECORD)
    assert stored["v"].tolist() == records
    assert set(stored["c"].tolist()) <= {code}
    assert decoded(blob) == ({code: value} if value else {})
    assert compact(blob, blob) == pack_log(np.array([code]), np.array([2 * value]))


def test_a_code_outside_u32_is_refused() -> None:
    with pytest.raises(ValueError, match="log code"):
        pack_log(np.array([1 << 32]), np.array([1]))


def test_whole_blobs_for_the_bulk_rebuild() -> None:
    counters = pack_counter_blob(np.array([0, 7]), np.array([-2, 70_000]), 10)
    assert codec.counter_cells(counters).tolist() == [-2, 0, 0, 0, 0, 0, 0, 70_000, 0, 0]
    latest = pack_latest_blob(np.array([1, 1, 3]), np.array([5, 2**32 - 1, 0]), 4)
    assert codec.latest_cells(latest).tolist() == [0, 2**32 - 1, 0, 0]


# --- compaction in Redis (the production script, on fakeredis) ------------------------------------


def store() -> tuple[ProjectorStore, str, str]:
    layout = Layout("lean", 1)
    return (
        ProjectorStore(fakeredis.FakeRedis(), layout),
        layout.log(1, "i5", 24_000),
        layout.log_tail(1, "i5", 24_000),
    )


def records(*items: Delta) -> bytes:
    return packed(list(items))


def test_compaction_folds_the_tail_into_the_base() -> None:
    redis_store, base, tail = store()
    client = redis_store.client
    client.set(base, records((5, 1), (9, 2)))
    client.set(tail, records((9, -2), (7, 3)))
    assert redis_store.compact_logs([(base, tail)]) == 1
    assert client.get(base) == records((5, 1), (7, 3))
    assert not client.exists(tail)


def test_a_compaction_racing_an_append_keeps_the_append() -> None:
    redis_store, base, tail = store()
    client = redis_store.client
    client.set(base, records((5, 1)))
    client.set(tail, records((5, 1)))
    real_mget = client.mget

    def mget_then_append(keys: list[str]) -> Any:
        values = real_mget(keys)
        client.append(tail, records((6, 4)))  # a write lands between the read and the swap
        return values

    with mock.patch.object(client, "mget", mget_then_append):
        assert redis_store.compact_logs([(base, tail)]) == 1
    assert client.get(base) == records((5, 2))
    assert client.get(tail) == records((6, 4))
    assert decoded(client.get(base), client.get(tail)) == {5: 2, 6: 4}


def test_a_compaction_of_a_base_changed_meanwhile_does_nothing() -> None:
    redis_store, base, tail = store()
    client = redis_store.client
    client.set(base, records((5, 1)))
    client.set(tail, records((5, 1)))
    real_mget = client.mget

    def mget_then_compact_elsewhere(keys: list[str]) -> Any:
        values = real_mget(keys)
        client.set(base, records((5, 2)))  # another instance compacted first
        client.set(tail, records((5, 1)))  # and the same record was appended again
        return values

    with mock.patch.object(client, "mget", mget_then_compact_elsewhere):
        assert redis_store.compact_logs([(base, tail)]) == 0
    assert decoded(client.get(base), client.get(tail)) == {5: 3}


# --- the whole projection with every tail compacted at once -------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_answers_equal_the_reference_when_every_append_is_compacted(scenario: Scenario) -> None:
    events, batches, asked = scenario
    server = fakeredis.FakeServer()
    with mock.patch.object(codec, "TAIL_MIN", 0):
        project(fakeredis.FakeRedis(server=server), "prop", batches)
    for reference_query in asked:
        expected = reference_sorted(
            reference_rows(events, **reference_query).values(), "customer_count", "desc"
        )
        query = statistics_query(reference_query, per_page=100)
        rows, _ = engine_rows(
            lambda: fakeredis.FakeAsyncRedis(server=server),
            "prop",
            reference_query["tenant_id"],
            query,
            SHANGHAI,
        )
        assert rows == expected, reference_query


# --- the first and the last second SPEC accepts, in every read plan ------------------------------

FIRST, LAST = 0, 2**32 - 1
"""1970-01-01T00:00:00Z and 2106-02-07T06:28:15Z."""
EDGE_EVENTS = [
    added("a-last", LAST, customer=1, industry=5, tags=[7]),
    follow("f-last", LAST, customer=1),
    added("a-first", FIRST, employee=4, customer=2, industry=5, tags=[7]),
    follow("f-first", FIRST, employee=4, customer=2),
]
EDGE_QUERIES: list[dict[str, Any]] = [
    {},  # (a)
    {"date_range": (datetime.date(1970, 1, 1), datetime.date(1970, 12, 31))},  # (b)
    {"date_range": (datetime.date(2106, 1, 1), datetime.date(2106, 2, 7))},
    {"industry_id": 5},  # (c)
    {"industry_id": 5, "date_range": (datetime.date(1970, 1, 1), datetime.date(1970, 1, 1))},
    {"industry_id": 5, "date_range": (datetime.date(2106, 2, 7), datetime.date(2106, 2, 7))},
    {"industry_id": 5, "tag_id": 7},  # (d)
]


@pytest.mark.parametrize("order_by", ["customer_count", "customer_last_date", "follow_last_date"])
@pytest.mark.parametrize(
    "extra", EDGE_QUERIES, ids=["a", "b-1970", "b-2106", "c", "c-1970", "c-2106", "d"]
)
def test_the_first_and_last_valid_seconds_show_in_every_read_plan(
    extra: dict[str, Any], order_by: str
) -> None:
    server = fakeredis.FakeServer()
    project(fakeredis.FakeRedis(server=server), "edge", [EDGE_EVENTS])
    reference_query = {"tenant_id": 1, "zone": SHANGHAI, **extra}
    expected = reference_sorted(
        reference_rows(EDGE_EVENTS, **reference_query).values(), order_by, "desc"
    )
    rows, _ = engine_rows(
        lambda: fakeredis.FakeAsyncRedis(server=server),
        "edge",
        1,
        statistics_query(reference_query, per_page=100, order_by=order_by, order="desc"),
        SHANGHAI,
    )
    assert rows == expected
    dates = {row["customer_last_date"] for row in rows} | {row["follow_last_date"] for row in rows}
    assert dates - {"-"}, "some edge second is shown"
