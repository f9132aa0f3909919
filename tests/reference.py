"""The naive oracle: SPEC §2 computed by brute force from the whole event list.

The optimised projection keeps incremental, pre-aggregated state; this module keeps
none. Every number is recomputed from the raw event dicts on each call, following
the wording of SPEC §2 as literally as possible, so that a disagreement between the
two points at the projection (or at the spec), never at a shared shortcut. It runs
on a few thousand events at most, so clarity wins over speed everywhere.

Readings of the spec made here (where §2 leaves room):

- ``customer_last_date`` is taken over the ``customer-added`` events counted by
  ``new_customer_count`` (the same events, filtered by e, D and F), as
  ``follow_last_date`` is over those counted by ``follow_count``.
- The display form truncates fractional seconds (``12:00:00.9`` shows ``12:00:00``).
- A date range whose start is after its end contains no day.
- Customers and employees are scoped by tenant: customer 5 of tenant 1 and customer
  5 of tenant 2 are different customers.
- Only the documented fields carry meaning: an unknown ``employee_id`` on a
  ``customer-updated`` event names nobody.
- The name filter compares ``str.casefold()`` forms; an empty name filters nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from events.schema import parse_occurred_at

Event = Mapping[str, Any]

ATTRIBUTE_KEYS = ("industry_id", "source_id", "progress_id", "tag_ids")
EMPLOYEE_EVENT_TYPES = (
    "employee-upserted",
    "customer-added",
    "customer-lost",
    "follow-recorded",
    "opportunity-created",
)
"""The types whose ``employee_id`` is a documented field (customer-updated has none)."""

SORTABLE_FIELDS = (
    "id",
    "name",
    "follow_count",
    "lose_customer_count",
    "customer_count",
    "new_customer_count",
    "opportunity_count",
    "customer_last_date",
    "follow_last_date",
)
DATE_FIELDS = ("customer_last_date", "follow_last_date")
NO_DATE = "-"
DISPLAY_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def instant(event: Event) -> datetime.datetime:
    """The exact moment of an event (microsecond precision, no float rounding)."""
    micros = parse_occurred_at(event["occurred_at"])
    return _EPOCH + datetime.timedelta(microseconds=micros)


def latest_key(event: Event) -> tuple[datetime.datetime, str]:
    """SPEC §2 'latest': greatest instant, then the greater event_id as a string."""
    return (instant(event), str(event["event_id"]))


def latest(events: Iterable[Event]) -> Event | None:
    """The latest of some events, or None when there are none."""
    return max(events, key=latest_key, default=None)


def display(moment: datetime.datetime, zone: ZoneInfo) -> str:
    """The legacy ``YYYY-MM-DD HH:MM:SS`` wall-clock form in the display zone."""
    return moment.astimezone(zone).strftime(DISPLAY_FORMAT)


def unique_events(events: Iterable[Event]) -> list[Event]:
    """Each event_id once; two different events sharing an id are a broken input."""
    seen: dict[str, Event] = {}
    for event in events:
        event_id = event["event_id"]
        if event_id in seen:
            if dict(seen[event_id]) != dict(event):
                raise ValueError(f"event_id {event_id!r} names two different events")
            continue
        seen[event_id] = event
    return list(seen.values())


def tenant_events(events: Iterable[Event], tenant_id: int) -> list[Event]:
    """The distinct events of one tenant."""
    return [event for event in unique_events(events) if event["tenant_id"] == tenant_id]


def of_type(events: Iterable[Event], *types: str) -> list[Event]:
    """The events whose type is one of ``types``."""
    return [event for event in events if event["type"] in types]


def current_attributes(events: list[Event], customer_id: int) -> dict[str, Any]:
    """Per attribute, the value of the latest added/updated event carrying that key."""
    carriers = [
        event
        for event in of_type(events, "customer-added", "customer-updated")
        if event["customer_id"] == customer_id
    ]
    attributes: dict[str, Any] = {}
    for key in ATTRIBUTE_KEYS:
        source = latest(event for event in carriers if key in event)
        attributes[key] = None if source is None else source[key]
    return attributes


def customer_matches(
    attributes: Mapping[str, Any],
    industry_id: int | None,
    source_id: int | None,
    progress_id: int | None,
    tag_id: int | None,
) -> bool:
    """Filter F on current attributes; a null attribute never matches a present filter."""
    for key, wanted in (
        ("industry_id", industry_id),
        ("source_id", source_id),
        ("progress_id", progress_id),
    ):
        if wanted is not None and attributes[key] != wanted:
            return False
    tags = attributes["tag_ids"]
    return tag_id is None or (tags is not None and tag_id in tags)


def in_range(
    event: Event, zone: ZoneInfo, date_range: tuple[datetime.date, datetime.date] | None
) -> bool:
    """D: the event's local calendar day in ``zone`` lies within [start, end]."""
    if date_range is None:
        return True
    start, end = date_range
    return start <= instant(event).astimezone(zone).date() <= end


def named_employees(events: list[Event]) -> set[int]:
    """Every employee id that any event of the tenant names, profile or reference."""
    return {int(event["employee_id"]) for event in of_type(events, *EMPLOYEE_EVENT_TYPES)}


def reference_rows(
    events: Iterable[Mapping[str, Any]],
    tenant_id: int,
    *,
    zone: ZoneInfo,
    name: str = "",
    department_id: int | None = None,
    industry_id: int | None = None,
    source_id: int | None = None,
    progress_id: int | None = None,
    tag_id: int | None = None,
    date_range: tuple[datetime.date, datetime.date] | None = None,
) -> dict[int, dict[str, Any]]:
    """One statistics row per employee of the tenant passing the employee filters."""
    log = tenant_events(events, tenant_id)
    customers = {int(event["customer_id"]) for event in log if event["type"] != "employee-upserted"}
    matching = {
        customer
        for customer in customers
        if customer_matches(
            current_attributes(log, customer), industry_id, source_id, progress_id, tag_id
        )
    }

    def counted(kind: str, employee: int) -> list[Event]:
        """Events of one type by the employee, in D, whose customer matches F."""
        return [
            event
            for event in of_type(log, kind)
            if event["employee_id"] == employee
            and in_range(event, zone, date_range)
            and event["customer_id"] in matching
        ]

    def current_customer_count(employee: int) -> int:
        """Customers matching F, relationship active, latest add for e in D."""
        history = [
            event
            for event in of_type(log, "customer-added", "customer-lost")
            if event["employee_id"] == employee
        ]
        count = 0
        for customer in sorted(matching):
            relationship = [event for event in history if event["customer_id"] == customer]
            last = latest(relationship)
            if last is None or last["type"] != "customer-added":
                continue
            last_add = latest(of_type(relationship, "customer-added"))
            if last_add is not None and in_range(last_add, zone, date_range):
                count += 1
        return count

    def last_date(counted_events: list[Event]) -> str:
        """The latest instant among counted events, displayed, or "-" for none."""
        newest = latest(counted_events)
        return NO_DATE if newest is None else display(instant(newest), zone)

    rows: dict[int, dict[str, Any]] = {}
    for employee in sorted(named_employees(log)):
        profile = latest(
            event for event in of_type(log, "employee-upserted") if event["employee_id"] == employee
        )
        employee_name: str = "" if profile is None else profile["name"]
        departments: list[int] = [] if profile is None else list(profile["department_ids"])
        if name and name.casefold() not in employee_name.casefold():
            continue
        if department_id is not None and department_id not in departments:
            continue
        adds = counted("customer-added", employee)
        follows = counted("follow-recorded", employee)
        rows[employee] = {
            "id": employee,
            "name": employee_name,
            "follow_count": len(follows),
            "lose_customer_count": len(counted("customer-lost", employee)),
            "customer_count": current_customer_count(employee),
            "new_customer_count": len(adds),
            "opportunity_count": len(counted("opportunity-created", employee)),
            "customer_last_date": last_date(adds),
            "follow_last_date": last_date(follows),
            "userid": None if profile is None else profile["userid"],
            "avatar_mediaid": None if profile is None else profile["avatar_mediaid"],
        }
    return rows


def _sort_key(row: Mapping[str, Any], order_by: str) -> tuple[int, Any]:
    """The field's value, with "-" placed before every real date."""
    value = row[order_by]
    if order_by in DATE_FIELDS:
        return (0, "") if value == NO_DATE else (1, value)
    return (1, value)


def reference_sorted(
    rows: Iterable[dict[str, Any]], order_by: str, order: str
) -> list[dict[str, Any]]:
    """Rows by one field asc/desc; ties always by id ascending, also under desc."""
    if order_by not in SORTABLE_FIELDS:
        raise ValueError(f"cannot sort by {order_by!r}")
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
    by_id = sorted(rows, key=lambda row: int(row["id"]))
    # Python's sort is stable even with reverse=True, so equal keys keep the id order.
    return sorted(by_id, key=lambda row: _sort_key(row, order_by), reverse=order == "desc")


def reference_tenant_known(events: Iterable[Mapping[str, Any]], tenant_id: int) -> bool:
    """A tenant is known once any of its events exists (operator registration aside)."""
    return any(event["tenant_id"] == tenant_id for event in events)


def reference_opportunity_plugin(events: Iterable[Mapping[str, Any]], tenant_id: int) -> bool:
    """The plugin is on once the tenant has an opportunity-created event (no override)."""
    return any(
        event["tenant_id"] == tenant_id and event["type"] == "opportunity-created"
        for event in events
    )
