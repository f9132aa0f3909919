"""Hypothesis strategies for event streams, their deliveries and statistics queries.

Pools are tiny on purpose: few tenants, employees, customers, attribute values and
instants, so filters hit, instants tie, event ids tie-break, relationships are
re-added after loss and day boundaries in Asia/Shanghai decide date ranges. A few
instants sit on the edges of March, so that ranges and histories also cover whole
months (the month buckets), not only loose days.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

SHANGHAI = ZoneInfo("Asia/Shanghai")
TENANTS = (1, 2)
EMPLOYEES = (3, 10, 25, 222)
CUSTOMERS = (1, 2, 5, 9, 10, 40)
DEPARTMENTS = (10, 20, 30)
ATTRIBUTE_VALUES = (1, 2, None)
TAGS = (7, 8, 9)
NAMES = ("韦小宝", "谢梓杰", "韦Anna", "Alice Wong", "ALICE", "bob", "Bob Li", "")
"""Chinese and mixed-case Latin; chosen so str.lower and str.casefold agree."""
NAME_QUERIES = ("韦", "谢梓杰", "alice", "aLiCe", "BOB", "o", "ANNA", "nobody")
NOBODY = {"industry_id": 3, "source_id": 3, "progress_id": 3, "tag_id": 6, "department_id": 40}
"""A filter value that no generated event carries."""


def _local(
    day: int, hour: int, minute: int, second: int, micro: int = 0, month: int = 3
) -> datetime.datetime:
    return datetime.datetime(2023, month, day, hour, minute, second, micro, tzinfo=SHANGHAI)


INSTANTS = (
    _local(1, 0, 0, 0),
    _local(1, 12, 0, 0),
    _local(1, 23, 59, 59),
    _local(1, 23, 59, 59, 500_000),
    _local(2, 0, 0, 0),
    _local(2, 0, 0, 0, 250_000),
    _local(2, 8, 0, 0),  # UTC midnight
    _local(2, 23, 59, 59),
    _local(3, 0, 0, 0),
    _local(3, 13, 0, 0),  # midnight at -05:00
    _local(28, 23, 59, 59, month=2),
    _local(31, 23, 59, 59),
    _local(1, 0, 0, 0, month=4),
)
"""A few instants over three local days, clustered around Shanghai midnight, and the last
and first seconds of the months around March."""
QUERY_DAYS = (
    datetime.date(2023, 2, 1),
    *(datetime.date(2023, 2, 27) + datetime.timedelta(days=i) for i in range(7)),
    datetime.date(2023, 3, 31),
    datetime.date(2023, 4, 1),
    datetime.date(2023, 4, 30),
)
"""Two days before the three clustered days, those days, two days after, and month edges:
ranges from them cover February, March or April whole, or only some of their days."""
OFFSETS = ("+08:00", "Z", "+00:00", "-05:00", "+05:30")
WEIGHTED_TYPES = (
    ("employee-upserted",) * 2
    + ("customer-added",) * 3
    + ("customer-updated",) * 2
    + ("customer-lost",) * 2
    + ("follow-recorded",) * 2
    + ("opportunity-created",) * 1
)


def write_instant(moment: datetime.datetime, offset: str | None, digits: int = 0) -> Any:
    """An instant as int unix seconds (offset None) or as RFC 3339 at an offset.

    ``offset`` is "Z" or "+HH:MM"/"-HH:MM". ``digits`` fractional digits are written
    when they represent the instant exactly; otherwise all six are.
    """
    micro = moment.microsecond
    if offset is None:
        if micro:
            raise ValueError("int unix seconds cannot carry a fraction")
        return int(moment.timestamp())
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", offset)
    if offset == "Z":
        shift = datetime.timedelta(0)
    elif match is not None:
        sign = -1 if match[1] == "-" else 1
        shift = sign * datetime.timedelta(hours=int(match[2]), minutes=int(match[3]))
    else:
        raise ValueError(f"not an RFC 3339 offset: {offset!r}")
    local = moment.astimezone(datetime.timezone(shift))
    if micro % 10 ** (6 - digits):
        digits = 6
    fraction = f".{micro:06d}"[: digits + 1] if digits else ""
    return f"{local:%Y-%m-%dT%H:%M:%S}{fraction}{offset}"


@st.composite
def occurred_ats(draw: st.DrawFn) -> Any:
    """One pool instant, written in one of the accepted forms."""
    moment = draw(st.sampled_from(INSTANTS))
    forms: list[str | None] = list(OFFSETS)
    if moment.microsecond == 0:
        forms.append(None)
    offset = draw(st.sampled_from(forms))
    return write_instant(moment, offset, draw(st.sampled_from((0, 1, 3, 6))))


_attribute = st.sampled_from(ATTRIBUTE_VALUES)
_tags = st.lists(st.sampled_from(TAGS), unique=True, max_size=3)
_employee = st.sampled_from(EMPLOYEES)
_customer = st.sampled_from(CUSTOMERS)


@st.composite
def _body(
    draw: st.DrawFn, kind: str, tenant_id: int, employee: int, customer: int
) -> dict[str, Any]:
    """One event without its event_id: the fields of its type, sometimes more."""
    body: dict[str, Any] = {
        "type": kind,
        "tenant_id": tenant_id,
        "occurred_at": draw(occurred_ats()),
    }
    if draw(st.booleans()):
        body["schema_version"] = 1
    if kind == "employee-upserted":
        body["employee_id"] = employee
        body["name"] = draw(st.sampled_from(NAMES))
        body["department_ids"] = draw(st.lists(st.sampled_from(DEPARTMENTS), unique=True))
        body["userid"] = draw(st.none() | st.sampled_from(("wx_alice", "wx_韦", "u-1")))
        body["avatar_mediaid"] = draw(st.none() | st.sampled_from(("media-1", "media-2")))
    elif kind == "customer-updated":
        body["customer_id"] = customer
        for key in ("industry_id", "source_id", "progress_id"):
            if draw(st.booleans()):
                body[key] = draw(_attribute)
        if draw(st.booleans()):
            body["tag_ids"] = draw(_tags)
    else:
        body["employee_id"] = employee
        body["customer_id"] = customer
        if kind == "customer-added":
            for key in ("industry_id", "source_id", "progress_id"):
                body[key] = draw(_attribute)
            body["tag_ids"] = draw(_tags)
        elif kind == "opportunity-created":
            body["opportunity_id"] = draw(st.integers(1, 1000))
    if draw(st.integers(0, 5)) == 0:
        # Unknown fields are ignored; an employee_id on customer-updated names nobody.
        extra = "employee_id" if kind == "customer-updated" else "trace"
        body[extra] = draw(st.sampled_from((3, "x", None, {"source": "crm"})))
    return body


@st.composite
def _chunk(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A single random event, or an add / lose / re-add story of one relationship."""
    tenant_id = draw(st.sampled_from(TENANTS))
    employee = draw(_employee)
    customer = draw(_customer)
    if draw(st.integers(0, 7)) == 0:
        story = ("customer-added", "customer-lost", "customer-added")
        return [draw(_body(kind, tenant_id, employee, customer)) for kind in story]
    kind = draw(st.sampled_from(WEIGHTED_TYPES))
    return [draw(_body(kind, tenant_id, employee, customer))]


@st.composite
def event_lists(draw: st.DrawFn, max_events: int = 40) -> list[dict[str, Any]]:
    """Valid events of tenants 1 and 2 with unique, short event ids ("e9" > "e10")."""
    chunks = draw(st.lists(_chunk(), max_size=max_events))
    bodies = [body for chunk in chunks for body in chunk][:max_events]
    numbers = draw(
        st.lists(
            st.integers(0, 4 * max_events),
            min_size=len(bodies),
            max_size=len(bodies),
            unique=True,
        )
    )
    return [
        {"event_id": f"e{number}", **body} for number, body in zip(numbers, bodies, strict=True)
    ]


@st.composite
def deliveries(draw: st.DrawFn, events: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events plus exact re-deliveries, shuffled and spread over 1-4 partitions."""
    repeats = draw(st.lists(st.integers(0, 2), min_size=len(events), max_size=len(events)))
    copies = [
        copy.deepcopy(dict(event))
        for event, extra in zip(events, repeats, strict=True)
        for _ in range(1 + extra)
    ]
    arrival = draw(st.permutations(copies))
    partition_count = draw(st.integers(1, 4))
    targets = draw(
        st.lists(st.integers(0, partition_count - 1), min_size=len(arrival), max_size=len(arrival))
    )
    partitions: list[list[dict[str, Any]]] = [[] for _ in range(partition_count)]
    for event, target in zip(arrival, targets, strict=True):
        partitions[target].append(event)
    return partitions


@st.composite
def date_ranges(draw: st.DrawFn) -> tuple[datetime.date, datetime.date]:
    """A [start, end] of whole days: single days, spans, before or after all events."""
    start = draw(st.sampled_from(QUERY_DAYS))
    if draw(st.booleans()):
        return (start, start)
    end = draw(st.sampled_from(QUERY_DAYS))
    return (min(start, end), max(start, end))


@st.composite
def queries(draw: st.DrawFn, zone: ZoneInfo = SHANGHAI) -> dict[str, Any]:
    """Keyword arguments for ``reference_rows``; absent filters are left out."""
    query: dict[str, Any] = {"tenant_id": draw(st.sampled_from(TENANTS)), "zone": zone}
    pools: dict[str, Sequence[int]] = {
        "industry_id": (1, 2),
        "source_id": (1, 2),
        "progress_id": (1, 2),
        "tag_id": TAGS,
        "department_id": DEPARTMENTS,
    }
    # Each filter is present one time in three, so most queries still match something.
    for key, pool in pools.items():
        if draw(st.integers(0, 2)) == 0:
            query[key] = draw(st.sampled_from((*pool, NOBODY[key])))
    if draw(st.integers(0, 2)) == 0:
        query["name"] = draw(st.sampled_from(NAME_QUERIES))
    if draw(st.booleans()):
        query["date_range"] = draw(date_ranges())
    return query


ONE_FILTERS = (
    *(("industry_id", v) for v in (1, 2)),
    *(("source_id", v) for v in (1, 2)),
    *(("progress_id", v) for v in (1, 2)),
    *(("tag_id", v) for v in TAGS),
)
"""Every single customer filter that generated events can match."""
