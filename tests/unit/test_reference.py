"""Table tests of the reference model against SPEC §2, numbers worked out by hand.

The spec is the oracle here: each scenario is small enough to count on paper. The
generators the property tests rely on are checked at the end: they must only
produce valid events (and poison that is really poison).
"""

from __future__ import annotations

import collections
import copy
import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events.schema import EVENT_ADAPTER, parse_occurred_at
from tests.messy import POISON_RECIPES, messy_events, poison_lines
from tests.reference import (
    reference_opportunity_plugin,
    reference_rows,
    reference_sorted,
    reference_tenant_known,
)
from tests.strategies import (
    INSTANTS,
    OFFSETS,
    deliveries,
    event_lists,
    queries,
    write_instant,
)

SH = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
Event = dict[str, Any]
COUNTS = ("new_customer_count", "lose_customer_count", "customer_count")


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def at(local: str) -> str:
    """'2023-03-01 12:00' (Shanghai wall clock) as RFC 3339 with +08:00."""
    return local.replace(" ", "T") + ("" if local.count(":") == 2 else ":00") + "+08:00"


def profile(
    eid: str,
    when: Any,
    employee: int,
    name: str,
    departments: tuple[int, ...] = (),
    userid: str | None = None,
    avatar: str | None = None,
    tenant: int = 1,
) -> Event:
    return {
        "event_id": eid,
        "type": "employee-upserted",
        "tenant_id": tenant,
        "occurred_at": when,
        "employee_id": employee,
        "name": name,
        "department_ids": list(departments),
        "userid": userid,
        "avatar_mediaid": avatar,
    }


def added(
    eid: str,
    when: Any,
    employee: int,
    customer: int,
    industry: int | None = None,
    source: int | None = None,
    progress: int | None = None,
    tags: tuple[int, ...] = (),
    tenant: int = 1,
) -> Event:
    return {
        "event_id": eid,
        "type": "customer-added",
        "tenant_id": tenant,
        "occurred_at": when,
        "employee_id": employee,
        "customer_id": customer,
        "industry_id": industry,
        "source_id": source,
        "progress_id": progress,
        "tag_ids": list(tags),
    }


def updated(eid: str, when: Any, customer: int, tenant: int = 1, **attributes: Any) -> Event:
    return {
        "event_id": eid,
        "type": "customer-updated",
        "tenant_id": tenant,
        "occurred_at": when,
        "customer_id": customer,
        **attributes,
    }


def simple(kind: str, eid: str, when: Any, employee: int, customer: int, tenant: int = 1) -> Event:
    event: Event = {
        "event_id": eid,
        "type": kind,
        "tenant_id": tenant,
        "occurred_at": when,
        "employee_id": employee,
        "customer_id": customer,
    }
    if kind == "opportunity-created":
        event["opportunity_id"] = 1000
    return event


def lost(eid: str, when: Any, employee: int, customer: int, tenant: int = 1) -> Event:
    return simple("customer-lost", eid, when, employee, customer, tenant)


def follow(eid: str, when: Any, employee: int, customer: int, tenant: int = 1) -> Event:
    return simple("follow-recorded", eid, when, employee, customer, tenant)


def opportunity(eid: str, when: Any, employee: int, customer: int, tenant: int = 1) -> Event:
    return simple("opportunity-created", eid, when, employee, customer, tenant)


def row(events: list[Event], employee: int, **query: Any) -> dict[str, Any]:
    query.setdefault("zone", SH)
    return reference_rows(events, query.pop("tenant_id", 1), **query)[employee]


def pick(values: dict[str, Any], *fields: str) -> tuple[Any, ...]:
    return tuple(values[field] for field in fields)


def test_scenarios_are_schema_valid() -> None:
    """The hand-written events below are valid, so they test the meaning, not parsing."""
    for event in [
        profile("p", at("2023-03-01 00:00"), 3, "x"),
        added("a", 1677600000, 3, 1, 1, None, 2, (7,)),
        updated("u", at("2023-03-01 00:00"), 1, industry_id=None),
        lost("l", at("2023-03-01 00:00"), 3, 1),
        follow("f", at("2023-03-01 00:00"), 3, 1),
        opportunity("o1", at("2023-03-01 00:00"), 3, 1),
    ]:
        EVENT_ADAPTER.validate_json(orjson.dumps(event))


# --- duplicates ------------------------------------------------------------------------


def test_duplicates_count_once() -> None:
    events = [
        added("e1", at("2023-03-01 10:00"), 3, 1),
        follow("e2", at("2023-03-01 11:00"), 3, 1),
        lost("e3", at("2023-03-01 12:00"), 3, 1),
        opportunity("e4", at("2023-03-01 11:30"), 3, 1),
    ]
    delivered = [copy.deepcopy(event) for event in events * 3]
    got = row(delivered, 3)
    assert pick(got, "new_customer_count", "follow_count", "lose_customer_count") == (1, 1, 1)
    assert pick(got, "opportunity_count", "customer_count") == (1, 0)


def test_duplicate_add_does_not_outlive_its_loss() -> None:
    """A re-delivered add after its loss is the same add: the customer stays lost."""
    events = [
        added("e1", at("2023-03-01 10:00"), 3, 1),
        lost("e2", at("2023-03-02 10:00"), 3, 1),
        added("e1", at("2023-03-01 10:00"), 3, 1),
    ]
    assert pick(row(events, 3), *COUNTS) == (1, 1, 0)


def test_two_different_events_with_one_id_are_rejected() -> None:
    events = [
        follow("e1", at("2023-03-01 10:00"), 3, 1),
        follow("e1", at("2023-03-01 10:00"), 3, 2),
    ]
    with pytest.raises(ValueError, match="e1"):
        reference_rows(events, 1, zone=SH)


# --- "latest" and ties by event_id ------------------------------------------------------


@pytest.mark.parametrize(
    ("add_id", "lose_id", "customer_count"),
    [
        ("e9", "e10", 1),  # "e9" > "e10" as strings: the add is latest
        ("e10", "e9", 0),
        ("e2", "e10", 1),
        ("a", "b", 0),
    ],
)
def test_equal_instants_break_ties_by_event_id_string(
    add_id: str, lose_id: str, customer_count: int
) -> None:
    # One instant written three ways: +08:00, Z and unix seconds.
    events = [
        added(add_id, "2023-03-01T08:00:00+08:00", 3, 1),
        lost(lose_id, "2023-03-01T00:00:00Z", 3, 1),
    ]
    assert row(events, 3)["customer_count"] == customer_count
    events[1]["occurred_at"] = 1677628800
    assert row(events, 3)["customer_count"] == customer_count


def test_profile_and_attribute_ties_break_by_event_id_string() -> None:
    moment = at("2023-03-01 09:00")
    events = [
        profile("e10", moment, 3, "旧名", userid="old"),
        profile("e9", moment, 3, "新名", userid="new"),
        added("x10", moment, 3, 1, industry=1),
        updated("x9", moment, 1, industry_id=2),
    ]
    got = row(events, 3)
    assert pick(got, "name", "userid") == ("新名", "new")
    assert row(events, 3, industry_id=2)["new_customer_count"] == 1
    assert row(events, 3, industry_id=1)["new_customer_count"] == 0


def test_latest_is_by_instant_not_by_arrival() -> None:
    events = [
        lost("e1", at("2023-03-02 10:00"), 3, 1),
        added("e2", at("2023-03-01 10:00"), 3, 1),
        profile("e3", at("2023-03-05 10:00"), 3, "后来"),
        profile("e4", at("2023-03-04 10:00"), 3, "先前"),
    ]
    got = row(events, 3)
    assert pick(got, "customer_count", "name") == (0, "后来")


# --- current attributes ------------------------------------------------------------------


def _moved_history() -> list[Event]:
    return [
        added("e1", at("2023-03-01 10:00"), 3, 1, industry=1),
        follow("e2", at("2023-03-01 11:00"), 3, 1),
        follow("e3", at("2023-03-01 12:00"), 3, 1),
        opportunity("e4", at("2023-03-01 13:00"), 3, 1),
        lost("e5", at("2023-03-02 10:00"), 3, 2),
        added("e6", at("2023-03-01 09:00"), 3, 2, industry=1),
        # Arrives first, happened last: moves customer 1 (and all its history) to industry 2.
        updated("e7", at("2023-03-03 10:00"), 1, industry_id=2),
        # Older than the add of customer 2: the add's industry 1 stays current.
        updated("e8", at("2023-02-28 10:00"), 2, industry_id=2),
    ]


@pytest.mark.parametrize(
    ("industry", "expected"),
    [
        # (follow, new, lose, customer, opportunity)
        (None, (2, 2, 1, 1, 1)),
        (1, (0, 1, 1, 0, 0)),
        (2, (2, 1, 0, 1, 1)),
        (3, (0, 0, 0, 0, 0)),
    ],
)
def test_attribute_change_moves_history_between_filters(
    industry: int | None, expected: tuple[int, ...]
) -> None:
    got = row(_moved_history(), 3, industry_id=industry)
    fields = ("follow_count", "new_customer_count", "lose_customer_count")
    assert pick(got, *fields, "customer_count", "opportunity_count") == expected


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ({}, True),
        ({"industry_id": 1}, True),  # kept: no later event carried industry_id
        ({"source_id": 1}, False),  # replaced by the update
        ({"source_id": 2}, True),
        ({"progress_id": 3}, True),
        ({"tag_id": 7}, True),  # kept: the update had no tag_ids key
        ({"tag_id": 8}, True),
        ({"tag_id": 9}, False),
        ({"industry_id": 1, "source_id": 2, "progress_id": 3, "tag_id": 8}, True),
        ({"industry_id": 1, "source_id": 1}, False),
    ],
)
def test_customer_updated_keys_absent_keep(query: dict[str, Any], matches: bool) -> None:
    events = [
        added("e1", at("2023-03-01 10:00"), 3, 1, industry=1, source=1, progress=3, tags=(7, 8)),
        updated("e2", at("2023-03-02 10:00"), 1, source_id=2),
    ]
    assert row(events, 3, **query)["customer_count"] == int(matches)


@pytest.mark.parametrize(
    ("update", "query", "matches"),
    [
        ({"industry_id": None}, {"industry_id": 1}, False),  # explicit null replaces
        ({"industry_id": None}, {}, True),
        ({"tag_ids": []}, {"tag_id": 7}, False),
        ({"tag_ids": [9]}, {"tag_id": 9}, True),
        ({}, {"industry_id": 1}, True),  # an update carrying nothing changes nothing
        ({"progress_id": 2}, {"progress_id": 2, "industry_id": 1}, True),
    ],
)
def test_customer_updated_present_keys_replace(
    update: dict[str, Any], query: dict[str, Any], matches: bool
) -> None:
    events = [
        added("e1", at("2023-03-01 10:00"), 3, 1, industry=1, tags=(7,)),
        updated("e2", at("2023-03-02 10:00"), 1, **update),
    ]
    assert row(events, 3, **query)["new_customer_count"] == int(matches)


@pytest.mark.parametrize(
    "query",
    [{"industry_id": 1}, {"source_id": 1}, {"progress_id": 1}, {"tag_id": 7}],
)
def test_null_attributes_never_match_a_filter(query: dict[str, Any]) -> None:
    events = [
        follow("e1", at("2023-03-01 10:00"), 3, 5),  # customer 5: no attribute event at all
        opportunity("e2", at("2023-03-01 10:00"), 3, 5),
        added("e3", at("2023-03-01 10:00"), 3, 6),  # customer 6: every attribute null
        follow("e4", at("2023-03-01 11:00"), 3, 6),
    ]
    assert pick(row(events, 3), "follow_count", "opportunity_count", "customer_count") == (2, 1, 1)
    got = row(events, 3, **query)
    assert pick(got, "follow_count", "opportunity_count", "customer_count") == (0, 0, 0)
    assert got["follow_last_date"] == "-"


def test_attributes_are_per_tenant() -> None:
    events = [
        added("e1", at("2023-03-01 10:00"), 3, 1, industry=1),
        updated("e2", at("2023-03-02 10:00"), 1, industry_id=2, tenant=2),
    ]
    assert row(events, 3, industry_id=1)["customer_count"] == 1


# --- relationships, re-adds and customer_count's date rule ------------------------------


def _readded() -> list[Event]:
    return [
        added("e1", at("2023-03-01 12:00"), 3, 1),
        lost("e2", at("2023-03-02 12:00"), 3, 1),
        added("e3", at("2023-03-03 12:00"), 3, 1),
    ]


@pytest.mark.parametrize(
    ("date_range", "expected", "last"),
    [
        (None, (2, 1, 1), "2023-03-03 12:00:00"),
        ((day("2023-03-01"), day("2023-03-02")), (1, 1, 0), "2023-03-01 12:00:00"),
        ((day("2023-03-03"), day("2023-03-03")), (1, 0, 1), "2023-03-03 12:00:00"),
        ((day("2023-03-02"), day("2023-03-02")), (0, 1, 0), "-"),
        ((day("2023-03-01"), day("2023-03-03")), (2, 1, 1), "2023-03-03 12:00:00"),
        ((day("2023-03-04"), day("2023-03-09")), (0, 0, 0), "-"),
    ],
)
def test_readd_after_loss(
    date_range: tuple[datetime.date, datetime.date] | None,
    expected: tuple[int, int, int],
    last: str,
) -> None:
    got = row(_readded(), 3, date_range=date_range)
    assert pick(got, *COUNTS) == expected
    assert got["customer_last_date"] == last


def test_customer_count_uses_the_latest_add_only() -> None:
    """Two adds without a loss: one current customer, dated by the later add."""
    events = [
        added("e1", at("2023-03-01 12:00"), 3, 1),
        added("e2", at("2023-03-03 12:00"), 3, 1),
    ]
    assert pick(row(events, 3), *COUNTS) == (2, 0, 1)
    first_day = (day("2023-03-01"), day("2023-03-01"))
    assert pick(row(events, 3, date_range=first_day), *COUNTS) == (1, 0, 0)


def test_lost_relationship_is_not_current() -> None:
    events = [*_readded(), lost("e4", at("2023-03-04 12:00"), 3, 1)]
    assert pick(row(events, 3), *COUNTS) == (2, 2, 0)


def test_a_customer_may_be_active_with_several_employees() -> None:
    events = [
        added("e1", at("2023-03-01 12:00"), 3, 1),
        added("e2", at("2023-03-01 13:00"), 10, 1),
        lost("e3", at("2023-03-02 12:00"), 3, 1),
        follow("e4", at("2023-03-02 13:00"), 10, 1),
    ]
    assert pick(row(events, 3), *COUNTS, "follow_count") == (1, 1, 0, 0)
    assert pick(row(events, 10), *COUNTS, "follow_count") == (1, 0, 1, 1)


def test_loss_without_add_is_counted_but_makes_nobody_current() -> None:
    events = [lost("e1", at("2023-03-01 12:00"), 3, 1)]
    assert pick(row(events, 3), *COUNTS) == (0, 1, 0)


# --- date ranges are whole local days in the display zone --------------------------------

BOUNDARY_FOLLOWS = [
    follow("e1", "2023-03-01T23:59:59+08:00", 3, 1),  # SH 03-01 23:59:59  UTC 03-01
    follow("e2", "2023-03-01T16:00:00Z", 3, 1),  # SH 03-02 00:00:00  UTC 03-01
    follow("e3", "2023-03-01T15:59:59.999999Z", 3, 1),  # SH 03-01 23:59:59.999999  UTC 03-01
    follow("e4", "2023-03-02T10:59:59-05:00", 3, 1),  # SH 03-02 23:59:59  UTC 03-02
    follow("e5", 1677772800, 3, 1),  # 2023-03-02T16:00Z: SH 03-03 00:00  UTC 03-02
]


@pytest.mark.parametrize(
    ("zone", "start", "end", "count", "last"),
    [
        (SH, "2023-03-01", "2023-03-01", 2, "2023-03-01 23:59:59"),
        (SH, "2023-03-02", "2023-03-02", 2, "2023-03-02 23:59:59"),
        (SH, "2023-03-03", "2023-03-03", 1, "2023-03-03 00:00:00"),
        (SH, "2023-03-01", "2023-03-03", 5, "2023-03-03 00:00:00"),
        (SH, "2023-02-28", "2023-02-28", 0, "-"),
        (SH, "2023-03-03", "2023-03-01", 0, "-"),  # start after end: no day
        (UTC, "2023-03-01", "2023-03-01", 3, "2023-03-01 16:00:00"),
        (UTC, "2023-03-02", "2023-03-02", 2, "2023-03-02 16:00:00"),
    ],
)
def test_date_range_day_boundaries_in_zone(
    zone: ZoneInfo, start: str, end: str, count: int, last: str
) -> None:
    got = row(BOUNDARY_FOLLOWS, 3, zone=zone, date_range=(day(start), day(end)))
    assert pick(got, "follow_count", "follow_last_date") == (count, last)


# --- last dates ---------------------------------------------------------------------------


def test_last_dates_are_local_truncated_seconds_or_dash() -> None:
    events = [
        added("e1", "2023-03-01T04:00:00.900Z", 3, 1, industry=1),
        follow("e2", "2023-03-02T12:30:45.999999+08:00", 3, 1),
        added("e3", at("2023-03-03 09:00"), 3, 2, industry=2),
        follow("e4", at("2023-03-04 09:00"), 3, 2),
        lost("e5", at("2023-03-05 09:00"), 3, 1),
    ]
    both = ("customer_last_date", "follow_last_date")
    assert pick(row(events, 3), *both) == ("2023-03-03 09:00:00", "2023-03-04 09:00:00")
    assert pick(row(events, 3, industry_id=1), *both) == (
        "2023-03-01 12:00:00",
        "2023-03-02 12:30:45",
    )
    assert pick(row(events, 3, zone=UTC, industry_id=1), *both) == (
        "2023-03-01 04:00:00",
        "2023-03-02 04:30:45",
    )
    assert pick(row(events, 3, industry_id=3), *both) == ("-", "-")
    first_day = (day("2023-03-01"), day("2023-03-01"))
    assert pick(row(events, 3, date_range=first_day), *both) == ("2023-03-01 12:00:00", "-")


# --- rows and employee filters ------------------------------------------------------------


def _staff() -> list[Event]:
    return [
        profile("e1", at("2023-03-01 09:00"), 3, "Alice Wong", (10, 20), "wx_alice", "m1"),
        profile("e2", at("2023-03-01 09:00"), 10, "韦小宝", (30,)),
        profile("e3", at("2023-03-01 09:00"), 25, "bob", (10,)),
        profile("e4", at("2023-03-02 09:00"), 25, "Carol", (20,)),  # renamed and moved
        follow("e5", at("2023-03-01 10:00"), 222, 1),  # never profiled
        profile("e6", at("2023-03-01 09:00"), 3, "Other tenant", (10,), tenant=2),
    ]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ({}, [3, 10, 25, 222]),
        ({"name": ""}, [3, 10, 25, 222]),
        ({"name": "alice"}, [3]),
        ({"name": "ALICE w"}, [3]),
        ({"name": "韦"}, [10]),
        ({"name": "bob"}, []),  # the old name no longer matches
        ({"name": "CAR"}, [25]),
        ({"name": "o"}, [3, 25]),
        ({"name": "tenant"}, []),
        ({"department_id": 20}, [3, 25]),
        ({"department_id": 10}, [3]),
        ({"department_id": 30}, [10]),
        ({"department_id": 40}, []),
        ({"name": "o", "department_id": 10}, [3]),
        ({"tenant_id": 2}, [3]),
        ({"tenant_id": 2, "department_id": 20}, []),
        ({"tenant_id": 7}, []),
    ],
)
def test_employee_filters(query: dict[str, Any], ids: list[int]) -> None:
    tenant = query.pop("tenant_id", 1)
    assert sorted(reference_rows(_staff(), tenant, zone=SH, **query)) == ids


def test_rows_cover_every_named_employee_with_exact_fields() -> None:
    events = [
        *_staff(),
        lost("e7", at("2023-03-01 10:00"), 40, 1),
        opportunity("e8", at("2023-03-01 10:00"), 41, 1),
        added("e9", at("2023-03-01 10:00"), 42, 1),
        # Unknown fields are ignored: this employee_id names nobody.
        {**updated("e10", at("2023-03-01 10:00"), 1, industry_id=1), "employee_id": 99},
    ]
    rows = reference_rows(events, 1, zone=SH)
    assert sorted(rows) == [3, 10, 25, 40, 41, 42, 222]
    assert rows[222] == {
        "id": 222,
        "name": "",
        "follow_count": 1,
        "lose_customer_count": 0,
        "customer_count": 0,
        "new_customer_count": 0,
        "opportunity_count": 0,
        "customer_last_date": "-",
        "follow_last_date": "2023-03-01 10:00:00",
        "userid": None,
        "avatar_mediaid": None,
    }
    assert list(rows[3]) == list(rows[222])
    assert pick(rows[3], "name", "userid", "avatar_mediaid", "follow_count") == (
        "Alice Wong",
        "wx_alice",
        "m1",
        0,
    )
    assert pick(rows[42], "name", "new_customer_count", "customer_count") == ("", 1, 1)


def test_profile_fields_follow_the_latest_upsert() -> None:
    events = [
        profile("e1", at("2023-03-02 09:00"), 3, "新", userid=None, avatar=None),
        profile("e2", at("2023-03-01 09:00"), 3, "旧", userid="u", avatar="m"),
    ]
    assert pick(row(events, 3), "name", "userid", "avatar_mediaid") == ("新", None, None)


def test_unknown_tenant_has_no_rows() -> None:
    assert reference_rows(_staff(), 3, zone=SH) == {}


# --- sorting ------------------------------------------------------------------------------

SORT_ROWS: list[dict[str, Any]] = [
    {"id": 4, "name": "bob", "customer_count": 2, "customer_last_date": "2023-03-01 00:00:00"},
    {"id": 1, "name": "Bob", "customer_count": 2, "customer_last_date": "-"},
    {"id": 3, "name": "韦", "customer_count": 5, "customer_last_date": "2023-02-01 10:00:00"},
    {"id": 2, "name": "", "customer_count": 0, "customer_last_date": "-"},
    {"id": 10, "name": "bob", "customer_count": 2, "customer_last_date": "2023-03-01 00:00:00"},
]


@pytest.mark.parametrize(
    ("order_by", "order", "ids"),
    [
        ("customer_count", "desc", [3, 1, 4, 10, 2]),  # ties by id ascending, even under desc
        ("customer_count", "asc", [2, 1, 4, 10, 3]),
        ("customer_last_date", "asc", [1, 2, 3, 4, 10]),  # "-" before every date
        ("customer_last_date", "desc", [4, 10, 3, 1, 2]),
        ("name", "asc", [2, 1, 4, 10, 3]),  # "" < "Bob" < "bob" < "韦"
        ("name", "desc", [3, 4, 10, 1, 2]),
        ("id", "desc", [10, 4, 3, 2, 1]),
        ("id", "asc", [1, 2, 3, 4, 10]),
    ],
)
def test_reference_sorted(order_by: str, order: str, ids: list[int]) -> None:
    assert [r["id"] for r in reference_sorted(SORT_ROWS, order_by, order)] == ids


@pytest.mark.parametrize(("order_by", "order"), [("userid", "asc"), ("id", "up")])
def test_reference_sorted_rejects_unknown_field_or_order(order_by: str, order: str) -> None:
    with pytest.raises(ValueError):
        reference_sorted(SORT_ROWS, order_by, order)


# --- tenants and the opportunity plugin ---------------------------------------------------


def test_tenant_known_and_opportunity_plugin() -> None:
    events = [
        *_staff(),
        opportunity("o9", at("2023-03-01 10:00"), 3, 1, tenant=2),
        updated("e20", at("2023-03-01 10:00"), 1, tenant=5),
    ]
    assert [reference_tenant_known(events, t) for t in (1, 2, 5, 7)] == [True, True, True, False]
    assert [reference_opportunity_plugin(events, t) for t in (1, 2, 5)] == [False, True, False]


# --- the generators -----------------------------------------------------------------------


def test_write_instant_round_trips_every_form() -> None:
    for moment in INSTANTS:
        expected = int(moment.timestamp()) * 1_000_000 + moment.microsecond
        forms: list[str | None] = [*OFFSETS] + ([None] if moment.microsecond == 0 else [])
        for offset in forms:
            for digits in (0, 1, 3, 6):
                assert parse_occurred_at(write_instant(moment, offset, digits)) == expected


def _valid(event: Event) -> None:
    EVENT_ADAPTER.validate_json(orjson.dumps(event))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_lists())
def test_event_lists_are_valid_with_unique_ids(events: list[Event]) -> None:
    assert len(events) <= 40
    assert len({event["event_id"] for event in events}) == len(events)
    for event in events:
        assert event["tenant_id"] in (1, 2)
        _valid(event)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), events=event_lists(max_events=25), query=queries())
def test_reference_ignores_delivery_order_duplicates_and_partitions(
    data: st.DataObject, events: list[Event], query: dict[str, Any]
) -> None:
    partitions = data.draw(deliveries(events))
    assert 1 <= len(partitions) <= 4
    delivered = [event for partition in partitions for event in partition]
    by_id = {event["event_id"]: event for event in events}
    assert {event["event_id"] for event in delivered} == set(by_id)
    assert all(event == by_id[event["event_id"]] for event in delivered)
    assert reference_rows(delivered, **query) == reference_rows(events, **query)


def _relationships(events: list[Event], kind: str) -> collections.Counter[tuple[int, int, int]]:
    """How many events of ``kind`` each (tenant, employee, customer) has."""
    return collections.Counter(
        (e["tenant_id"], e["employee_id"], e["customer_id"]) for e in events if e["type"] == kind
    )


def test_event_lists_reach_the_interesting_cases() -> None:
    """Ties, re-adds and the -05:00 form do occur, so property tests exercise them."""

    def readded(events: list[Event]) -> bool:
        adds, losses = (
            _relationships(events, "customer-added"),
            _relationships(events, "customer-lost"),
        )
        return any(count >= 2 and losses[key] for key, count in adds.items())

    def tie(events: list[Event]) -> bool:
        instants = [parse_occurred_at(e["occurred_at"]) for e in events]
        return len(set(instants)) < len(instants)

    def western(events: list[Event]) -> bool:
        return any(str(e["occurred_at"]).endswith("-05:00") for e in events)

    quick = settings(database=None, max_examples=2000)
    for condition in (readded, tie, western):
        assert condition(find(event_lists(), condition, settings=quick))


def test_messy_events_are_deterministic_valid_and_messy() -> None:
    events = messy_events(7, 2000)
    assert events == messy_events(7, 2000)
    assert events != messy_events(8, 2000)
    assert len(events) == 2000
    ids = collections.Counter(event["event_id"] for event in events)
    assert 0.03 <= (len(events) - len(ids)) / len(events) <= 0.07
    assert {event["type"] for event in events} == {
        "employee-upserted",
        "customer-added",
        "customer-updated",
        "customer-lost",
        "follow-recorded",
        "opportunity-created",
    }
    assert {event["tenant_id"] for event in events} == {1, 2, 3}
    assert {type(event["occurred_at"]) for event in events} == {int, str}
    for event in events:
        EVENT_ADAPTER.validate_python(event)
    instants = [parse_occurred_at(event["occurred_at"]) for event in events]
    assert instants != sorted(instants)
    assert max(instants) - min(instants) > 60 * 86_400 * 1_000_000
    adds, losses = _relationships(events, "customer-added"), _relationships(events, "customer-lost")
    assert any(count >= 2 and losses[key] for key, count in adds.items())
    assert messy_events(7, 50, tenants=(9,))[0]["tenant_id"] == 9


def test_poison_lines_are_all_invalid_and_cover_every_recipe() -> None:
    lines = poison_lines(5, 200)
    assert lines == poison_lines(5, 200)
    assert len(lines) == 200
    assert b"" in lines
    for line in lines:
        with pytest.raises(ValidationError):
            EVENT_ADAPTER.validate_json(line)
    assert len(poison_lines(1, len(POISON_RECIPES))) == len(POISON_RECIPES)
    decoded = []
    for line in lines:
        try:
            decoded.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    assert any(isinstance(value, list) for value in decoded)
    assert any(isinstance(v, dict) and v.get("tenant_id") == "25" for v in decoded)
    assert any(isinstance(v, dict) and isinstance(v.get("tenant_id"), bool) for v in decoded)
