"""The demo data set is valid, plausible and reproducible: what `custstats dev --demo` shows."""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from custstats.demo import demo_events
from events.decode import Poison, decode
from events.schema import parse_occurred_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime.datetime(2024, 6, 30, 15, 30, tzinfo=SHANGHAI)
Events = list[dict[str, Any]]


@pytest.fixture(scope="module")
def events() -> Events:
    return demo_events(7, end=END)


def by_tenant(events: Events) -> dict[int, Events]:
    tenants: dict[int, Events] = defaultdict(list)
    for event in events:
        tenants[event["tenant_id"]].append(event)
    return tenants


def test_every_event_is_valid_as_the_projector_decodes_it(events: Events) -> None:
    poison = [
        (event, verdict)
        for event in events
        if isinstance(verdict := decode(orjson.dumps(event)), Poison)
    ]
    assert poison == []
    assert len({event["event_id"] for event in events}) == len(events)


def test_the_same_seed_and_end_give_the_same_events_and_another_seed_does_not(
    events: Events,
) -> None:
    assert demo_events(7, end=END) == events
    assert demo_events(8, end=END) != events


def test_a_year_of_history_in_delivery_order_ending_at_the_end_in_the_display_zone(
    events: Events,
) -> None:
    micros = [parse_occurred_at(event["occurred_at"]) for event in events]
    assert micros == sorted(micros)
    last = datetime.datetime.fromtimestamp(micros[-1] / 1e6, SHANGHAI)
    first = datetime.datetime.fromtimestamp(micros[0] / 1e6, SHANGHAI)
    assert END - datetime.timedelta(days=1) < last <= END
    assert first.date() >= END.date() - datetime.timedelta(days=365)
    assert (last - first).days >= 360
    assert all(event["occurred_at"].endswith("+08:00") for event in events)


def test_three_tenants_of_realistic_size_with_a_realistic_mix_of_events(events: Events) -> None:
    assert 25_000 <= len(events) <= 35_000
    tenants = by_tenant(events)
    assert sorted(tenants) == [25, 26, 27]
    big = tenants[25]
    employees = {event["employee_id"] for event in big if "employee_id" in event}
    customers = {event["customer_id"] for event in big if "customer_id" in event}
    departments = {d for e in big if e["type"] == "employee-upserted" for d in e["department_ids"]}
    assert 35 <= len(employees) <= 45
    assert 1000 <= len(customers) <= 1500
    assert 4 <= len(departments) <= 6
    kinds = Counter(event["type"] for event in events)
    assert kinds.most_common(1)[0][0] == "follow-recorded"
    assert {"customer-added", "customer-updated", "customer-lost"} <= set(kinds)


def test_only_tenants_25_and_26_have_opportunities(events: Events) -> None:
    tenants = by_tenant(events)
    with_opportunities = {
        tenant
        for tenant, log in tenants.items()
        if any(event["type"] == "opportunity-created" for event in log)
    }
    assert with_opportunities == {25, 26}


def test_names_mix_chinese_and_latin_and_include_the_spec_example(events: Events) -> None:
    names = {
        (event["tenant_id"], event["employee_id"]): event["name"]
        for event in events
        if event["type"] == "employee-upserted"
    }
    chinese = [name for name in names.values() if all("\u4e00" <= ch <= "\u9fff" for ch in name)]
    latin = [name for name in names.values() if name.isascii() and " " in name]
    assert len(chinese) >= 20 and len(latin) >= 5
    assert names[(25, 222)] == "谢梓杰"


def test_every_event_makes_sense_where_it_stands(events: Events) -> None:
    """Follow-ups, losses and opportunities concern an active customer; re-adds follow a loss."""
    active: set[tuple[int, int, int]] = set()
    ever_lost: set[tuple[int, int, int]] = set()
    readds = 0
    for event in events:
        if "customer_id" not in event or event["type"] == "customer-updated":
            continue
        pair = (event["tenant_id"], event["employee_id"], event["customer_id"])
        if event["type"] == "customer-added":
            assert pair not in active, event
            readds += pair in ever_lost
            active.add(pair)
        else:
            assert pair in active, event
            if event["type"] == "customer-lost":
                active.discard(pair)
                ever_lost.add(pair)
    assert readds >= 100
