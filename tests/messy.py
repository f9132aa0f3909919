"""Deterministic, realistic-but-messy event streams and poison records for integration tests.

``messy_events`` simulates months of CRM activity in a few tenants: profiles that
change, customers added, updated, lost and re-added, shared between employees,
with jittered and re-ordered timestamps in both accepted forms and re-deliveries.
``poison_lines`` produces records the projector must dead-letter. Both depend on
the seed only, so a failing integration test can be replayed exactly.
"""

from __future__ import annotations

import copy
import datetime
import random
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
HISTORY_START = datetime.datetime(2023, 1, 1, tzinfo=SHANGHAI)
HISTORY_DAYS = 150
DUPLICATE_SHARE = 0.05
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林韦谢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超梓兰霞"
LATIN_NAMES = ("Alice Wong", "Bob LI", "carol", "David Chen", "EVE")
KIND_WEIGHTS = {
    "follow-recorded": 35,
    "customer-added": 20,
    "customer-updated": 10,
    "customer-lost": 9,
    "opportunity-created": 7,
    "employee-upserted": 4,
}
OFFSETS = ("+08:00", "+08:00", "+08:00", "Z", "+00:00", "-05:00", "+09:00")


class _Tenant:
    """The simulated world of one tenant: who exists and who is whose customer."""

    def __init__(self, rng: random.Random, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.employees = rng.sample(range(100, 400), rng.randint(12, 30))
        self.customers = rng.sample(range(1, 100_000), rng.randint(150, 400))
        self.active: set[tuple[int, int]] = set()
        self.lost: set[tuple[int, int]] = set()
        self.attributes = {customer: _attributes(rng) for customer in self.customers}
        self.profiled = set(rng.sample(self.employees, int(len(self.employees) * 0.9)))


def _attributes(rng: random.Random) -> dict[str, Any]:
    return {
        "industry_id": rng.choice([*range(1, 13), None]),
        "source_id": rng.choice([*range(1, 7), None]),
        "progress_id": rng.choice([*range(1, 6), None]),
        "tag_ids": sorted(rng.sample(range(1, 21), rng.randint(0, 4))),
    }


def _name(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(LATIN_NAMES)
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))


def _timestamp(rng: random.Random, moment: datetime.datetime) -> Any:
    """Int unix seconds about one time in six, else RFC 3339 at some offset."""
    if rng.random() < 0.17:
        return int(moment.replace(microsecond=0).timestamp())
    offset = rng.choice(OFFSETS)
    zone = (
        datetime.UTC
        if offset in ("Z", "+00:00")
        else datetime.timezone(datetime.timedelta(hours=int(offset[:3])))
    )
    local = moment.astimezone(zone)
    fraction = f".{local.microsecond:06d}"[: rng.choice((4, 7))] if rng.random() < 0.3 else ""
    return f"{local:%Y-%m-%dT%H:%M:%S}{fraction}{offset}"


def _profile(rng: random.Random, world: _Tenant, employee: int) -> dict[str, Any]:
    return {
        "type": "employee-upserted",
        "employee_id": employee,
        "name": _name(rng),
        "department_ids": sorted(rng.sample(range(1, 9), rng.randint(0, 2))),
        "userid": rng.choice([None, f"wx{employee}"]),
        "avatar_mediaid": rng.choice([None, f"media-{rng.randrange(10**6)}"]),
    }


def _customer_event(rng: random.Random, world: _Tenant, kind: str) -> dict[str, Any]:
    """One customer event that makes sense in the world, updating the world."""
    if kind == "customer-updated":
        customer = rng.choice(world.customers)
        changes = _attributes(rng)
        keys = rng.sample(sorted(changes), rng.randint(1, 4))
        if rng.random() < 0.1:
            changes["industry_id"] = None
        carried = {key: changes[key] for key in keys}
        world.attributes[customer].update(copy.deepcopy(carried))
        return {"type": kind, "customer_id": customer, **carried}
    if kind == "customer-lost" and world.active:
        employee, customer = rng.choice(sorted(world.active))
        world.active.discard((employee, customer))
        world.lost.add((employee, customer))
        return {"type": kind, "employee_id": employee, "customer_id": customer}
    if kind == "customer-added" or not world.active:
        if world.lost and rng.random() < 0.2:
            employee, customer = rng.choice(sorted(world.lost))
            world.lost.discard((employee, customer))
        else:
            employee, customer = rng.choice(world.employees), rng.choice(world.customers)
        world.active.add((employee, customer))
        if rng.random() < 0.3:
            world.attributes[customer] = _attributes(rng)
        attributes = copy.deepcopy(world.attributes[customer])
        return {
            "type": "customer-added",
            "employee_id": employee,
            "customer_id": customer,
            **attributes,
        }
    if rng.random() < 0.9:
        employee, customer = rng.choice(sorted(world.active))
    else:
        employee, customer = rng.choice(world.employees), rng.choice(world.customers)
    event: dict[str, Any] = {"type": kind, "employee_id": employee, "customer_id": customer}
    if kind == "opportunity-created":
        event["opportunity_id"] = rng.randrange(1, 10**7)
    return event


def messy_events(seed: int, n: int, tenants: Sequence[int] = (1, 2, 3)) -> list[dict[str, Any]]:
    """``n`` valid events in delivery order, about 5% of them exact re-deliveries."""
    rng = random.Random(seed)
    worlds = {tenant: _Tenant(rng, tenant) for tenant in tenants}
    unique_count = n - round(n * DUPLICATE_SHARE)
    pending = [
        (world, _profile(rng, world, employee))
        for world in worlds.values()
        for employee in sorted(world.profiled)
    ]
    rng.shuffle(pending)
    step = datetime.timedelta(days=HISTORY_DAYS) / max(unique_count, 1)
    events: list[dict[str, Any]] = []
    ids: set[str] = set()
    previous: Any = None
    while len(events) < unique_count:
        position = HISTORY_START + step * len(events)
        if pending and rng.random() < 0.5:
            world, body = pending.pop()
        else:
            world = worlds[rng.choice(list(worlds))]
            kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
            if kind == "employee-upserted":
                body = _profile(rng, world, rng.choice(sorted(world.profiled)))
            else:
                body = _customer_event(rng, world, kind)
        jitter = datetime.timedelta(seconds=rng.gauss(0, 3600))
        if rng.random() < 0.05:
            jitter -= datetime.timedelta(days=rng.uniform(1, 20))  # a late, back-dated event
        moment = max(HISTORY_START, position + jitter)
        occurred_at = previous if previous is not None and rng.random() < 0.03 else None
        if occurred_at is None:
            occurred_at = _timestamp(rng, moment)
        previous = occurred_at
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if event_id in ids:
            continue
        ids.add(event_id)
        event = {"event_id": event_id, "tenant_id": world.tenant_id, "occurred_at": occurred_at}
        if rng.random() < 0.05:
            event["schema_version"] = 1
        event.update(body)
        if rng.random() < 0.03:
            event["producer"] = {"service": "scrm-web", "version": "7.2"}
        events.append(event)
    for _ in range(len(events) // 40):  # arrival order: local swaps
        i = rng.randrange(len(events))
        j = min(len(events) - 1, i + rng.randint(1, 25))
        events[i], events[j] = events[j], events[i]
    while events and len(events) < n:
        original = rng.randrange(len(events))
        again = rng.randint(original, len(events))
        events.insert(again, copy.deepcopy(events[original]))
    return events


def _valid_record(rng: random.Random, world: _Tenant) -> dict[str, Any]:
    """A valid event of a random type, to be broken by one of the poison recipes."""
    kind = rng.choice(list(KIND_WEIGHTS))
    body = (
        _profile(rng, world, world.employees[0])
        if kind == "employee-upserted"
        else _customer_event(rng, world, kind)
    )
    return {
        "event_id": f"poison-{rng.randrange(10**9)}",
        "tenant_id": world.tenant_id,
        "occurred_at": "2023-03-30T14:41:18+08:00",
        **body,
    }


REQUIRED = {
    "employee-upserted": ("employee_id", "name", "department_ids", "userid", "avatar_mediaid"),
    "customer-added": (
        "employee_id",
        "customer_id",
        "industry_id",
        "source_id",
        "progress_id",
        "tag_ids",
    ),
    "customer-updated": ("customer_id",),
    "customer-lost": ("employee_id", "customer_id"),
    "follow-recorded": ("employee_id", "customer_id"),
    "opportunity-created": ("employee_id", "customer_id", "opportunity_id"),
}
"""Per type, the fields beyond event_id, type, tenant_id and occurred_at that must be present."""


def _poison(rng: random.Random, world: _Tenant, recipe: str) -> bytes:
    """One invalid record made by the named recipe."""
    record = _valid_record(rng, world)
    kind = record["type"]
    if recipe == "not-json":
        return rng.choice(
            [b"{", b'{"event_id": "x",', b"hello", b"{'a': 1}", orjson.dumps(record)[:-1]]
        )
    if recipe == "not-utf8":
        return orjson.dumps(record).replace(b'"poison-', b'"\xff\xfe-', 1)
    if recipe == "json-array":
        return orjson.dumps([record])
    if recipe == "json-scalar":
        return rng.choice([b"42", b'"customer-added"', b"null", b"true"])
    if recipe == "empty":
        return rng.choice([b"", b" ", b"\n"])
    if recipe == "missing-field":
        field = rng.choice(("event_id", "type", "tenant_id", "occurred_at", *REQUIRED[kind]))
        del record[field]
    elif recipe == "int-as-string":
        field = rng.choice(("tenant_id", *[f for f in REQUIRED[kind] if f.endswith("_id")]))
        record[field] = str(record[field])
    elif recipe == "bool-for-int":
        field = rng.choice(
            ("tenant_id", "occurred_at", *[f for f in REQUIRED[kind] if f.endswith("_id")])
        )
        record[field] = rng.choice([True, False])
    elif recipe == "wrong-type":
        record[rng.choice(("event_id", "occurred_at", "schema_version"))] = rng.choice(
            [1.5, [1], {"v": 1}]
        )
    elif recipe == "unknown-type":
        record["type"] = rng.choice(["customer-merged", "Customer-Added", "", "follow_recorded"])
    elif recipe == "no-offset":
        record["occurred_at"] = rng.choice(
            ["2023-03-30T14:41:18", "2023-03-30 14:41:18", "2023-03-30T14:41:18.250"]
        )
    elif recipe == "bad-timestamp":
        record["occurred_at"] = rng.choice(
            ["yesterday", "2023-13-01T00:00:00+08:00", "", "1680158478"]
        )
    elif recipe == "bad-value":
        field, value = rng.choice(
            [("tenant_id", 0), ("tenant_id", -25), ("event_id", ""), ("event_id", "x" * 129)]
        )
        record[field] = value
    else:
        raise ValueError(f"unknown poison recipe {recipe!r}")
    return orjson.dumps(record)


POISON_RECIPES = (
    "not-json",
    "not-utf8",
    "json-array",
    "json-scalar",
    "empty",
    "missing-field",
    "int-as-string",
    "bool-for-int",
    "wrong-type",
    "unknown-type",
    "no-offset",
    "bad-timestamp",
    "bad-value",
)


def poison_lines(seed: int, n: int) -> list[bytes]:
    """``n`` invalid records; every recipe is present once ``n`` reaches their number."""
    rng = random.Random(seed)
    world = _Tenant(rng, 25)
    order = list(POISON_RECIPES)
    rng.shuffle(order)
    plan = [order[i % len(order)] for i in range(n)]
    rng.shuffle(plan)
    return [_poison(rng, world, recipe) for recipe in plan]
