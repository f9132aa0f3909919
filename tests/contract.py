"""Event builders and query tables shared by the table tests and the store contract suite.

The builders write raw event dicts the way upstream publishes them, so a test
reads like the story it tells ("added e1 at noon, lost e2 at one"); `typed`
validates them through the real schema, as the projector does.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

from events.schema import EVENT_ADAPTER, CustomerEvent, EmployeeUpserted, Event
from tests.strategies import deliveries, event_lists, queries

TENANT = 1
EMPLOYEE = 3
CUSTOMER = 1
NOON = 1_677_643_200
"""2023-03-01 12:00:00 in Asia/Shanghai, as unix seconds: a quiet instant far from midnight."""

Raw = dict[str, Any]


def _event(event_id: str, kind: str, at: int | str, tenant_id: int, **fields: Any) -> Raw:
    return {
        "event_id": event_id,
        "type": kind,
        "tenant_id": tenant_id,
        "occurred_at": at,
        **fields,
    }


def added(
    event_id: str,
    at: int | str,
    *,
    employee: int = EMPLOYEE,
    customer: int = CUSTOMER,
    industry: int | None = None,
    source: int | None = None,
    progress: int | None = None,
    tags: Iterable[int] = (),
    tenant_id: int = TENANT,
) -> Raw:
    return _event(
        event_id,
        "customer-added",
        at,
        tenant_id,
        employee_id=employee,
        customer_id=customer,
        industry_id=industry,
        source_id=source,
        progress_id=progress,
        tag_ids=list(tags),
    )


def updated(
    event_id: str,
    at: int | str,
    *,
    customer: int = CUSTOMER,
    tenant_id: int = TENANT,
    **changes: Any,
) -> Raw:
    """Only the attribute keys given are present: absent keys must keep their value."""
    return _event(event_id, "customer-updated", at, tenant_id, customer_id=customer, **changes)


def lost(
    event_id: str,
    at: int | str,
    *,
    employee: int = EMPLOYEE,
    customer: int = CUSTOMER,
    tenant_id: int = TENANT,
) -> Raw:
    return _event(
        event_id, "customer-lost", at, tenant_id, employee_id=employee, customer_id=customer
    )


def follow(
    event_id: str,
    at: int | str,
    *,
    employee: int = EMPLOYEE,
    customer: int = CUSTOMER,
    tenant_id: int = TENANT,
) -> Raw:
    return _event(
        event_id, "follow-recorded", at, tenant_id, employee_id=employee, customer_id=customer
    )


def opportunity(
    event_id: str,
    at: int | str,
    *,
    employee: int = EMPLOYEE,
    customer: int = CUSTOMER,
    tenant_id: int = TENANT,
    opportunity_id: int = 1,
) -> Raw:
    return _event(
        event_id,
        "opportunity-created",
        at,
        tenant_id,
        employee_id=employee,
        customer_id=customer,
        opportunity_id=opportunity_id,
    )


def profile(
    event_id: str,
    at: int | str,
    *,
    employee: int = EMPLOYEE,
    name: str = "",
    departments: Iterable[int] = (),
    userid: str | None = None,
    avatar: str | None = None,
    tenant_id: int = TENANT,
) -> Raw:
    return _event(
        event_id,
        "employee-upserted",
        at,
        tenant_id,
        employee_id=employee,
        name=name,
        department_ids=list(departments),
        userid=userid,
        avatar_mediaid=avatar,
    )


def typed(raw: Mapping[str, Any]) -> Event:
    """One raw event validated by the real schema (occurred_at becomes microseconds)."""
    return EVENT_ADAPTER.validate_python(dict(raw))


def customer_event(raw: Mapping[str, Any]) -> CustomerEvent:
    event = typed(raw)
    assert not isinstance(event, EmployeeUpserted)
    return event


def employee_event(raw: Mapping[str, Any]) -> EmployeeUpserted:
    event = typed(raw)
    assert isinstance(event, EmployeeUpserted)
    return event


# --- the query table of the messy-stream contract -------------------------------------------

D = datetime.date
MESSY_SEED = 11
MESSY_QUERIES: dict[str, dict[str, Any]] = {
    "no-filter": {"tenant_id": 1},
    "no-filter-tenant-2": {"tenant_id": 2},
    "no-filter-tenant-3": {"tenant_id": 3},
    "industry": {"tenant_id": 1, "industry_id": 4},
    "source": {"tenant_id": 1, "source_id": 2},
    "progress": {"tenant_id": 2, "progress_id": 3},
    "tag": {"tenant_id": 1, "tag_id": 7},
    "industry-matching-nobody": {"tenant_id": 1, "industry_id": 99},
    "department": {"tenant_id": 1, "department_id": 8},
    "name-chinese": {"tenant_id": 1, "name": "娜"},
    "name-latin-any-case": {"tenant_id": 1, "name": "bOb"},
    "name-matching-nobody": {"tenant_id": 1, "name": "nobody"},
    "name-and-department": {"tenant_id": 2, "name": "王", "department_id": 1},
    "industry-and-tag": {"tenant_id": 1, "industry_id": 3, "tag_id": 11},
    "source-and-progress": {"tenant_id": 3, "source_id": 2, "progress_id": 5},
    "all-filters": {
        "tenant_id": 1,
        "industry_id": 8,
        "source_id": 6,
        "progress_id": 1,
        "tag_id": 2,
        "department_id": 8,
        "name": "",
    },
    "single-day": {"tenant_id": 1, "date_range": (D(2023, 2, 10), D(2023, 2, 10))},
    "whole-month": {"tenant_id": 1, "date_range": (D(2023, 2, 1), D(2023, 2, 28))},
    "across-months": {"tenant_id": 2, "date_range": (D(2023, 1, 15), D(2023, 3, 10))},
    "wider-than-history": {"tenant_id": 1, "date_range": (D(2022, 12, 1), D(2023, 12, 31))},
    "before-history": {"tenant_id": 1, "date_range": (D(2022, 1, 1), D(2022, 12, 31))},
    "first-day-of-history": {"tenant_id": 3, "date_range": (D(2023, 1, 1), D(2023, 1, 1))},
    "filter-and-month": {
        "tenant_id": 1,
        "industry_id": 11,
        "date_range": (D(2023, 3, 1), D(2023, 3, 31)),
    },
    "tag-and-days": {"tenant_id": 2, "tag_id": 20, "date_range": (D(2023, 4, 3), D(2023, 5, 9))},
    "two-filters-and-days": {
        "tenant_id": 1,
        "source_id": 5,
        "tag_id": 10,
        "date_range": (D(2023, 1, 20), D(2023, 2, 20)),
    },
}
"""Reference-query keyword arguments (without `zone`) by id. The values are taken from
`messy_events(MESSY_SEED, 3000)` so that, except the `*-nobody` ones, every query has rows
with non-zero counts: a table of empty answers would prove little."""


# --- generated scenarios ---------------------------------------------------------------------


def chunks(events: list[Raw], size: int) -> list[list[Raw]]:
    """Fixed-size poll batches, in delivery order."""
    return [events[start : start + size] for start in range(0, len(events), size)]


@st.composite
def poll_batches(draw: st.DrawFn, partitions: list[list[Raw]]) -> list[list[Raw]]:
    """Interleave partition streams (each kept in order) into poll batches of random size."""
    queues = [list(partition) for partition in partitions if partition]
    batches: list[list[Raw]] = []
    current: list[Raw] = []
    while queues:
        queue = queues[draw(st.integers(0, len(queues) - 1))]
        current.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
        if draw(st.integers(0, 3)) == 0:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


Scenario = tuple[list[Raw], list[list[Raw]], list[dict[str, Any]]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Events, their re-ordered and duplicated delivery as poll batches, and a few queries."""
    events = draw(event_lists())
    batches = draw(poll_batches(draw(deliveries(events))))
    asked = draw(st.lists(queries(), min_size=1, max_size=6))
    return events, batches, asked
