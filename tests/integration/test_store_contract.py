"""The store contract: the same scenarios against fakeredis and a real Redis, through Lua and the
query engine, must give the reference model's answers; a fenced batch writes nothing."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.params import SORT_FIELDS
from projector.applier import Applier, OffsetMove
from projector.cells import BatchWrites
from projector.control import CURRENT
from projector.errors import Fenced
from projector.layout import ControlLayout
from projector.runstate import RunStats
from tests.contract import (
    MESSY_QUERIES,
    MESSY_SEED,
    NOON,
    Raw,
    Scenario,
    added,
    chunks,
    follow,
    lost,
    profile,
    scenarios,
    updated,
)
from tests.harness import (
    SHANGHAI,
    applier,
    engine_rows,
    memory_runner,
    parsed,
    project,
    statistics_query,
)
from tests.messy import messy_events
from tests.reference import reference_rows, reference_sorted
from tests.support.servers import delete_prefixed

pytestmark = pytest.mark.integration

BACKENDS = ("fakeredis", "redis")
Row = dict[str, Any]


@dataclass
class Backend:
    """One storage server: sync clients for the projector, async ones for the engine."""

    name: str
    sync: Callable[[], redis.Redis]
    async_: Callable[[], aioredis.Redis]
    url: str | None

    def delete(self, prefix: str) -> None:
        if self.url is not None:
            delete_prefixed(self.url, prefix)
        else:
            client = self.sync()
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)


def open_backend(name: str, redis_url: str) -> Backend:
    if name == "fakeredis":
        server = fakeredis.FakeServer()
        return Backend(
            name,
            lambda: fakeredis.FakeRedis(server=server),
            lambda: fakeredis.FakeAsyncRedis(server=server),
            None,
        )
    return Backend(
        name,
        lambda: redis.Redis.from_url(redis_url),
        lambda: aioredis.Redis.from_url(redis_url),
        redis_url,
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, redis_url: str) -> Backend:
    return open_backend(request.param, redis_url)


@pytest.fixture
def client(backend: Backend) -> Iterator[redis.Redis]:
    opened = backend.sync()
    yield opened
    opened.close()


def fresh_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def answer(
    backend: Backend, prefix: str, reference_query: dict[str, Any], **page: Any
) -> tuple[list[Row], int]:
    """The engine's rows for a reference-style query (all on one page unless told)."""
    page.setdefault("per_page", 100)
    query = statistics_query(reference_query, **page)
    return engine_rows(backend.async_, prefix, reference_query["tenant_id"], query, SHANGHAI)


def expected(
    events: Sequence[Raw],
    reference_query: dict[str, Any],
    order_by: str = "customer_count",
    order: str = "desc",
) -> list[Row]:
    rows = reference_rows(events, zone=SHANGHAI, **reference_query)
    return reference_sorted(rows.values(), order_by, order)


def dump(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key under the prefix with its whole value, to compare before and after."""
    content: dict[bytes, Any] = {}
    for key in client.scan_iter(match=f"{prefix}:*"):
        kind = client.type(key)
        if kind == b"string":
            content[key] = client.get(key)
        elif kind == b"hash":
            content[key] = client.hgetall(key)
        elif kind == b"set":
            content[key] = client.smembers(key)
        else:
            raise AssertionError(f"unexpected {kind!r} at {key!r}")
    return content


# --- (a) any delivery gives the reference's answers ---------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenarios(), st.sampled_from(SORT_FIELDS), st.sampled_from(["asc", "desc"]))
def test_any_delivery_gives_the_reference_answers(
    backend: Backend, scenario: Scenario, order_by: str, order: str
) -> None:
    events, batches, asked = scenario
    prefix = fresh_prefix()  # the fixture is per test, the data is per example
    client = backend.sync()
    try:
        project(client, prefix, batches)
        for reference_query in asked:
            query = {key: value for key, value in reference_query.items() if key != "zone"}
            want = expected(events, query, order_by, order)
            rows, total = answer(backend, prefix, query, order_by=order_by, order=order)
            assert total == len(want)
            assert rows == want, query
    finally:
        client.close()
        backend.delete(prefix)


# --- (b) a messy stream against a table of queries ----------------------------------------------


@dataclass
class Projected:
    backend: Backend
    prefix: str
    events: list[Raw]


@pytest.fixture(scope="module", params=BACKENDS)
def messy(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Projected]:
    """messy_events projected once per backend, in poll batches of 200."""
    store = open_backend(request.param, redis_url)
    prefix = fresh_prefix()
    events = messy_events(MESSY_SEED, 3000)
    client = store.sync()
    try:
        project(client, prefix, chunks(events, 200))
        yield Projected(store, prefix, events)
    finally:
        client.close()
        store.delete(prefix)


@pytest.mark.parametrize("query_id", MESSY_QUERIES)
def test_messy_stream_answers_equal_the_reference(messy: Projected, query_id: str) -> None:
    query = MESSY_QUERIES[query_id]
    want = expected(messy.events, query)
    rows, total = answer(messy.backend, messy.prefix, query)
    assert (rows, total) == (want, len(want))


SORTED_QUERIES = ("no-filter", "tag", "industry-and-tag", "filter-and-month")
"""One query per read plan: `*` slice, one filter, several filters, filter with dates."""


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("order_by", SORT_FIELDS)
def test_messy_stream_sorts_like_the_reference_by_every_field(
    messy: Projected, order_by: str, order: str
) -> None:
    for query_id in SORTED_QUERIES:
        query = MESSY_QUERIES[query_id]
        rows, _ = answer(messy.backend, messy.prefix, query, order_by=order_by, order=order)
        assert rows == expected(messy.events, query, order_by, order), query_id


@pytest.mark.parametrize("query_id", ["no-filter", "tag", "industry-and-tag"])
def test_messy_stream_pages_are_slices_of_the_reference_order(
    messy: Projected, query_id: str
) -> None:
    query = MESSY_QUERIES[query_id]
    want = expected(messy.events, query, "follow_last_date", "desc")
    for page in (1, 2, 4, 5):
        rows, total = answer(
            messy.backend,
            messy.prefix,
            query,
            page=page,
            per_page=7,
            order_by="follow_last_date",
            order="desc",
        )
        assert total == len(want)
        assert rows == want[(page - 1) * 7 : page * 7]


# --- (c) atomicity: a fenced batch writes nothing -----------------------------------------------

STORED = [
    profile("p1", NOON, employee=3, name="韦小宝"),
    added("a1", NOON, employee=3, customer=1, industry=1, tags=[7]),
    follow("f1", NOON + 60, employee=3, customer=1),
]
KNOWN_ONLY = [
    updated("u1", NOON + 120, customer=1, industry_id=2),
    follow("f2", NOON + 180, employee=3, customer=1),
    added("a2", NOON + 240, employee=3, customer=2, source=5),
    profile("p2", NOON + 300, employee=3, name="谢梓杰"),
    lost("l1", NOON + 360, employee=3, customer=1),
]


def stored_store(client: redis.Redis, prefix: str) -> Applier:
    """A projection holding STORED, with partition 0 at offset 7."""
    apply = applier(client, prefix)
    apply.apply(parsed(STORED), offsets={0: OffsetMove(expected=None, new=7)})
    return apply


@pytest.mark.parametrize(
    "offsets",
    [
        {0: OffsetMove(expected=5, new=9)},
        {0: OffsetMove(expected=None, new=9)},
        {0: OffsetMove(expected=7, new=9), 1: OffsetMove(expected=3, new=4)},
    ],
    ids=["stale-offset", "expected-absent-but-present", "one-partition-of-two-moved"],
)
def test_a_fenced_batch_raises_and_writes_nothing(
    backend: Backend, client: redis.Redis, key_prefix: str, offsets: dict[int, OffsetMove]
) -> None:
    apply = stored_store(client, key_prefix)
    before = dump(client, key_prefix)
    answers = answer(backend, key_prefix, {"tenant_id": 1, "industry_id": 1})
    with pytest.raises(Fenced):
        apply.apply(parsed(KNOWN_ONLY), offsets=offsets, dead_letters=2)
    assert dump(client, key_prefix) == before
    assert answer(backend, key_prefix, {"tenant_id": 1, "industry_id": 1}) == answers
    assert apply.store.applied_offsets(apply.topic) == {0: 7}


def test_a_batch_of_a_version_no_longer_current_raises_and_writes_nothing(
    client: redis.Redis, key_prefix: str
) -> None:
    stored = stored_store(client, key_prefix)
    control = ControlLayout(key_prefix).key
    version = str(stored.store.layout.version).encode()
    apply = Applier(
        stored.store, stored.projection, stored.topic, fences=[(control, CURRENT, version)]
    )
    client.hset(control, CURRENT, "2")  # a rebuild switched the API to version 2
    before = dump(client, key_prefix)
    with pytest.raises(Fenced):
        apply.apply(parsed(KNOWN_ONLY), offsets={0: OffsetMove(expected=7, new=9)})
    assert dump(client, key_prefix) == before


def test_a_fenced_batch_naming_a_new_employee_adds_no_row(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    apply = stored_store(client, key_prefix)
    before = answer(backend, key_prefix, {"tenant_id": 1})
    with pytest.raises(Fenced):
        apply.apply(
            parsed([follow("f9", NOON, employee=99, customer=1)]),
            offsets={0: OffsetMove(expected=5, new=9)},
        )
    assert answer(backend, key_prefix, {"tenant_id": 1}) == before


def test_the_applied_batch_is_visible_after_the_fence_is_lifted(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    apply = stored_store(client, key_prefix)
    with pytest.raises(Fenced):
        apply.apply(parsed(KNOWN_ONLY), offsets={0: OffsetMove(expected=5, new=9)})
    apply.apply(parsed(KNOWN_ONLY), offsets={0: OffsetMove(expected=7, new=9)})
    for query in ({"tenant_id": 1}, {"tenant_id": 1, "industry_id": 2}):
        want = expected(STORED + KNOWN_ONLY, query)
        assert answer(backend, key_prefix, query) == (want, len(want))


# --- (d) re-applying a batch changes no answer ---------------------------------------------------

DUPLICATE_QUERIES = (
    "no-filter",
    "industry",
    "tag",
    "industry-and-tag",
    "whole-month",
    "filter-and-month",
)


def test_re_applying_applied_batches_changes_no_answer(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    events = messy_events(MESSY_SEED + 1, 600)
    batches = chunks(events, 100)
    project(client, key_prefix, batches)
    first = {q: answer(backend, key_prefix, MESSY_QUERIES[q]) for q in DUPLICATE_QUERIES}
    project(client, key_prefix, [batches[2], batches[0][::-1], events])
    for query_id, answered in first.items():
        query = MESSY_QUERIES[query_id]
        want = expected(events, query)
        assert answered == (want, len(want)), query_id
        assert answer(backend, key_prefix, query) == answered, query_id


def test_an_older_update_delivered_last_does_not_override_a_newer_equal_one(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    events = [
        added("e1", NOON, industry=1),
        updated("e2", NOON + 100, industry_id=1),
        updated("e3", NOON + 50, industry_id=2),
    ]
    project(client, key_prefix, [[event] for event in events])
    query = {"tenant_id": 1, "industry_id": 1}
    want = expected(events, query)
    assert want[0]["new_customer_count"] == 1
    assert answer(backend, key_prefix, query) == (want, len(want))


# --- (e) offsets travel with their batch --------------------------------------------------------


def test_offsets_written_with_a_batch_are_readable(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    apply = applier(client, key_prefix)
    assert apply.store.applied_offsets(apply.topic) == {}
    apply.apply(parsed(STORED), offsets={0: OffsetMove(None, 7), 3: OffsetMove(None, 12)})
    assert apply.store.applied_offsets(apply.topic) == {0: 7, 3: 12}
    apply.apply(parsed(KNOWN_ONLY[:2]), offsets={0: OffsetMove(7, 20)})
    apply.apply([], offsets={3: OffsetMove(12, 13)})
    # A second client, as a restarted projector or `custstats status` would be.
    other = applier(backend.sync(), key_prefix)
    try:
        assert other.store.applied_offsets(other.topic) == {0: 20, 3: 13}
        assert other.store.applied_offsets("another-topic") == {}
    finally:
        other.store.client.close()


# --- (f) latest dates of the page rows under one filter -----------------------------------------
# Counts sorted by default under one filter read the slice's cells; the rows' latest dates come
# from the latest non-zero cell and the customers the employee had facts with in its month.

LEFT_THE_SLICE = [
    profile("p3", "2023-01-01T09:00:00+08:00", employee=3, name="韦小宝"),
    added("a1", "2023-02-20T10:00:00+08:00", customer=1, industry=1),
    added("a2", "2023-02-21T10:00:00+08:00", customer=2, industry=1),
    follow("f1", "2023-03-10T09:00:00+08:00", customer=1),
    follow("f2", "2023-03-25T18:00:00+08:00", customer=2),  # later in March, then leaves i1
    follow("f3", "2023-04-03T12:00:00+08:00", customer=2),  # later still, on a loose day
    lost("l1", "2023-03-20T10:00:00+08:00", customer=1),
    updated("u1", "2023-04-05T10:00:00+08:00", customer=2, industry_id=2),
    added("a3", "2023-03-31T15:59:59Z", employee=10, customer=3, industry=1),  # 23:59:59 local
    added("a4", "2023-03-02T08:00:00+08:00", employee=10, customer=5, industry=1),
    follow("f4", "2023-03-02T09:00:00+08:00", employee=10, customer=5),
    follow("f5", "2023-03-31T23:59:59+08:00", employee=10, customer=5),
    follow("f6", "2023-04-01T00:00:00+08:00", employee=10, customer=4),  # in no filter slice
    added("a5", "2023-03-15T10:00:00+08:00", employee=25, customer=6, industry=1),
    follow("f7", "2023-01-31T23:59:59+08:00", employee=25, customer=6),
    added("a6", "2023-01-05T10:00:00+08:00", employee=10, customer=7, industry=1),
    follow("f8", "2023-02-14T20:00:00+08:00", employee=25, customer=7),  # a later month
    follow("f9", "2023-03-20T11:00:00+08:00", employee=222, customer=5),
    follow("f10", "2023-04-08T11:00:00+08:00", employee=222, customer=7),  # none with 7 in March
    follow("f11", "2023-04-09T07:30:00+08:00", employee=25, customer=5),
]
CAME_BACK = [*LEFT_THE_SLICE, updated("u2", "2023-04-06T10:00:00+08:00", customer=2, industry_id=1)]
D = datetime.date
ONE_FILTER_QUERIES: dict[str, dict[str, Any]] = {
    "whole-month-and-loose-days": {"industry_id": 1, "date_range": (D(2023, 3, 1), D(2023, 4, 10))},
    "no-date-range": {"industry_id": 1},
    "the-slice-it-joined": {"industry_id": 2, "date_range": (D(2023, 3, 1), D(2023, 4, 10))},
    "loose-days-at-both-ends": {
        "industry_id": 1,
        "date_range": (D(2023, 2, 10), D(2023, 4, 10)),
    },
    "loose-days-only": {"industry_id": 1, "date_range": (D(2023, 3, 5), D(2023, 3, 20))},
    "two-whole-months": {"industry_id": 1, "date_range": (D(2023, 1, 1), D(2023, 3, 31))},
    "one-whole-month-after-the-facts": {
        "industry_id": 1,
        "date_range": (D(2023, 4, 1), D(2023, 4, 30)),
    },
    "single-last-day-of-a-month": {
        "industry_id": 1,
        "date_range": (D(2023, 3, 31), D(2023, 3, 31)),
    },
}


def follow_dates(rows: Sequence[Row]) -> dict[int, str]:
    return {row["id"]: row["follow_last_date"] for row in rows}


@pytest.mark.parametrize("story", ["left", "came-back"])
@pytest.mark.parametrize("query_id", ONE_FILTER_QUERIES)
def test_latest_dates_under_one_filter_equal_the_reference(
    backend: Backend, client: redis.Redis, key_prefix: str, story: str, query_id: str
) -> None:
    events = LEFT_THE_SLICE if story == "left" else CAME_BACK
    project(client, key_prefix, chunks(events, 4))
    query = {"tenant_id": 1, **ONE_FILTER_QUERIES[query_id]}
    want = expected(events, query)
    assert answer(backend, key_prefix, query) == (want, len(want))
    for page in (1, 2, 3, 4):
        rows, total = answer(backend, key_prefix, query, page=page, per_page=1)
        assert (rows, total) == (want[page - 1 : page], len(want))


def test_a_later_follow_of_a_customer_that_left_the_filter_is_not_its_latest(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    project(client, key_prefix, [LEFT_THE_SLICE])
    march_to_april = ONE_FILTER_QUERIES["whole-month-and-loose-days"]
    rows, _ = answer(backend, key_prefix, {"tenant_id": 1, **march_to_april})
    assert follow_dates(rows) == {
        3: "2023-03-10 09:00:00",  # not customer 2's 03-25 or 04-03: it is in industry 2 now
        10: "2023-03-31 23:59:59",  # not 04-01: customer 4 is in no industry
        25: "2023-04-09 07:30:00",
        222: "2023-04-08 11:00:00",
    }
    assert {row["id"]: row["customer_last_date"] for row in rows} == {
        3: "-",
        10: "2023-03-31 23:59:59",
        25: "2023-03-15 10:00:00",
        222: "-",
    }
    rows, _ = answer(backend, key_prefix, {"tenant_id": 1, **march_to_april, "industry_id": 2})
    assert follow_dates(rows)[3] == "2023-04-03 12:00:00"


def test_a_customer_that_comes_back_to_the_filter_brings_its_latest_follow_back(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    project(client, key_prefix, [CAME_BACK])
    query = {"tenant_id": 1, **ONE_FILTER_QUERIES["whole-month-and-loose-days"]}
    rows, _ = answer(backend, key_prefix, query)
    assert follow_dates(rows)[3] == "2023-04-03 12:00:00"
    rows, _ = answer(backend, key_prefix, {"tenant_id": 1, "industry_id": 1})
    assert follow_dates(rows) == {
        3: "2023-04-03 12:00:00",
        10: "2023-03-31 23:59:59",
        25: "2023-04-09 07:30:00",
        222: "2023-04-08 11:00:00",
    }


# --- (g) a second writer between read and write: the batch is folded again ----------------------

SECOND_WRITER = [
    updated("w1", NOON + 90, customer=1, industry_id=5),
    follow("w2", NOON + 100, employee=4, customer=1),
]


def test_a_state_changed_between_read_and_write_is_folded_again(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    """The production pipeline (read-ahead, carried states, fenced commit) fed from memory:
    another writer changes customer 1 after the first batch was read and folded, so that
    batch's write fails its state check and is re-folded, and the next batch (folded from
    the first one's carried, now stale, state) is too. The answers are the reference's."""
    polls = [STORED, KNOWN_ONLY]
    runner = memory_runner(client, key_prefix, polls)
    store = runner.store
    real_commit = store.commit
    outcomes: list[tuple[str, str] | None] = []

    def racing_commit(writes: BatchWrites) -> tuple[str, str] | None:
        if not writes.values:  # not a batch: the freshness targets (projector/readiness.py)
            return real_commit(writes)
        if not outcomes:
            other = backend.sync()  # another instance, on another partition holding customer 1
            applier(other, key_prefix).apply(parsed(SECOND_WRITER))
            other.close()
        failed = real_commit(writes)
        outcomes.append(failed)
        return failed

    store.commit = racing_commit  # type: ignore[method-assign]
    stats = runner.run(until_caught_up=True)

    customer_key = store.layout.customer(1, 1)
    assert outcomes[0] == (customer_key, ""), "the first write met the other writer's state"
    assert outcomes[1] is None, "then it was folded again and landed"
    assert (customer_key, "") in outcomes[2:], "the next batch, folded from carried state, too"
    assert stats.events == len(STORED) + len(KNOWN_ONLY)
    everything = STORED + SECOND_WRITER + KNOWN_ONLY
    for query in (
        {"tenant_id": 1},
        {"tenant_id": 1, "industry_id": 2},
        {"tenant_id": 1, "industry_id": 5},
    ):
        want = expected(everything, query)
        assert answer(backend, key_prefix, query) == (want, len(want)), query


def test_state_lost_between_batches_is_rebuilt_from_the_earliest_offset(
    backend: Backend, client: redis.Redis, key_prefix: str
) -> None:
    """The self-heal in-process: the projection disappears after the first batch; at the
    next idle check the runner re-attaches, forgets the states it carried, and replays."""
    runner = memory_runner(client, key_prefix, [STORED, [], KNOWN_ONLY])

    def lose_everything(stats: RunStats) -> None:
        if stats.batches == 1:
            backend.delete(key_prefix)

    runner.run(until_caught_up=True, on_batch=lose_everything)
    assert runner.store.applied_offsets(runner.config.topic) == {0: 8}
    for query in ({"tenant_id": 1}, {"tenant_id": 1, "industry_id": 2}):
        want = expected(STORED + KNOWN_ONLY, query)
        assert answer(backend, key_prefix, query) == (want, len(want)), query
