"""The demo data set of `custstats dev --demo`: a year of plausible CRM activity in three tenants.

A first look at the product should show numbers that look like a real sales team's:
a few stars and many average employees, quiet weekends, customers that are added,
followed up, moved through the pipeline, lost and won back, and one tenant without
the opportunity plugin. The history is simulated in time order, so every event
makes sense where it stands (a follow-up has an active customer, a re-add a loss).
It depends only on the seed and on the instant the history ends.
"""

from __future__ import annotations

import datetime
import random
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORY_DAYS = 365
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶"
GIVEN = "梓杰子轩浩然宇航欣怡思雨嘉琪俊文博泽晨阳佳诗涵一鸣明静婉婷伟强丽娜海涛建国秀英志敏晓峰雪梅"
LATIN_FIRST = ("Alice", "Kevin", "Grace", "Tony", "Vivian", "Jason", "Cindy", "Eric", "Helen")
LATIN_LAST = ("Wang", "Zhang", "Liu", "Chen", "Lin", "Huang", "Zhou", "Wu", "Ho", "Tan")
# Relative weights of what a working day brings; opportunities only where the plugin is on.
KIND_WEIGHTS = {
    "follow-recorded": 62,
    "customer-added": 16,
    "customer-updated": 9,
    "customer-lost": 6,
    "opportunity-created": 7,
}
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.0, 1.0, 0.9, 0.35, 0.2)  # Monday first


@dataclass(frozen=True)
class TenantPlan:
    """The shape of one demo tenant."""

    tenant_id: int
    employees: int
    departments: int
    customers: int
    events: int
    opportunities: bool


PLANS = (
    TenantPlan(25, employees=40, departments=6, customers=1500, events=16_000, opportunities=True),
    TenantPlan(26, employees=24, departments=5, customers=900, events=9_000, opportunities=True),
    TenantPlan(27, employees=14, departments=4, customers=500, events=5_000, opportunities=False),
)
STAR_EMPLOYEE = (222, "谢梓杰")
"""Tenant 25's top seller, the employee of SPEC §3's example row."""


@dataclass
class _Employee:
    employee_id: int
    name: str
    department_ids: list[int]
    userid: str | None
    avatar_mediaid: str | None
    weight: float
    hired: int  # day index of the history
    active: list[int] = field(default_factory=list)  # customer ids, for cheap random picks


@dataclass
class _World:
    """One tenant's state while its history is simulated."""

    plan: TenantPlan
    rng: random.Random
    employees: list[_Employee]
    fresh: list[int]  # customer ids never added yet
    attributes: dict[int, dict[str, Any]] = field(default_factory=dict)
    lost: list[tuple[_Employee, int]] = field(default_factory=list)
    next_opportunity: int = 1

    def hired_by(self, day: int) -> list[_Employee]:
        return [employee for employee in self.employees if employee.hired <= day]

    def pick(self, day: int) -> _Employee:
        staff = self.hired_by(day)
        return self.rng.choices(staff, weights=[e.weight for e in staff])[0]


def _chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2, 2))))


def _employees(rng: random.Random, plan: TenantPlan) -> list[_Employee]:
    pool = [number for number in range(100, 1000) if number != STAR_EMPLOYEE[0]]
    ids = sorted(rng.sample(pool, plan.employees))
    names: set[str] = set()
    staff: list[_Employee] = []
    for number, employee_id in enumerate(ids):
        star = plan.tenant_id == 25 and number == 0
        latin = not star and rng.random() < 0.25
        name = STAR_EMPLOYEE[1] if star else ""
        while not name or name in names:
            name = (
                f"{rng.choice(LATIN_FIRST)} {rng.choice(LATIN_LAST)}"
                if latin
                else _chinese_name(rng)
            )
        if star:
            employee_id = STAR_EMPLOYEE[0]
        names.add(name)
        departments = sorted(rng.sample(range(1, plan.departments + 1), rng.choice((1, 1, 1, 2))))
        staff.append(
            _Employee(
                employee_id=employee_id,
                name=name,
                department_ids=departments,
                userid=(
                    f"{name.split()[0].lower()}{employee_id}"
                    if latin
                    else rng.choice((None, f"wx{employee_id:05d}"))
                ),
                avatar_mediaid=rng.choice((None, f"3{rng.getrandbits(40):011x}")),
                weight=5.0 if number == 0 else rng.lognormvariate(0, 0.7),
                hired=0 if number < plan.employees * 0.75 else rng.randrange(30, HISTORY_DAYS - 30),
            )
        )
    idle = rng.choice(staff[1:])
    idle.weight = 0.0  # a new hire with nothing yet: the zero row a real page has too
    idle.hired = HISTORY_DAYS - 2
    staff.sort(key=lambda employee: employee.employee_id)
    return staff


def _new_attributes(rng: random.Random) -> dict[str, Any]:
    return {
        "industry_id": rng.choice([*range(1, 13), None]),
        "source_id": rng.choices([1, 2, 3, 4, 5, 6, None], weights=[30, 20, 15, 10, 8, 7, 10])[0],
        "progress_id": 1,
        "tag_ids": sorted(rng.sample(range(1, 21), rng.choice((0, 1, 1, 2, 3)))),
    }


def _add(world: _World, day: int) -> dict[str, Any]:
    """A new customer, a won-back lost one, or one shared with a colleague."""
    rng = world.rng
    if world.lost and rng.random() < 0.25:
        employee, customer = world.lost.pop(rng.randrange(len(world.lost)))
        if employee.hired > day or customer in employee.active:
            employee = world.pick(day)
    else:
        employee = world.pick(day)
        shared = [c for c in world.attributes if c not in employee.active]
        if (rng.random() < 0.08 or not world.fresh) and shared:
            customer = rng.choice(shared)
        elif world.fresh:
            customer = world.fresh.pop()
            world.attributes[customer] = _new_attributes(rng)
        else:
            return _follow(world, day)
    if customer in employee.active:
        return _follow(world, day)
    employee.active.append(customer)
    return {
        "type": "customer-added",
        "employee_id": employee.employee_id,
        "customer_id": customer,
        **world.attributes[customer],
    }


def _active_pair(world: _World, day: int) -> tuple[_Employee, int] | None:
    for _ in range(8):
        employee = world.pick(day)
        if employee.active:
            return employee, world.rng.choice(employee.active)
    return None


def _follow(world: _World, day: int) -> dict[str, Any]:
    pair = _active_pair(world, day)
    if pair is None:
        return _add(world, day)
    employee, customer = pair
    return {"type": "follow-recorded", "employee_id": employee.employee_id, "customer_id": customer}


def _lose(world: _World, day: int) -> dict[str, Any]:
    pair = _active_pair(world, day)
    if pair is None:
        return _add(world, day)
    employee, customer = pair
    employee.active.remove(customer)
    world.lost.append((employee, customer))
    return {"type": "customer-lost", "employee_id": employee.employee_id, "customer_id": customer}


def _update(world: _World, day: int) -> dict[str, Any]:
    """Mostly a step forward in the pipeline; sometimes new tags or a corrected source."""
    rng = world.rng
    if not world.attributes:
        return _add(world, day)
    customer = rng.choice(list(world.attributes))
    attributes = world.attributes[customer]
    roll = rng.random()
    if roll < 0.6:
        changes: dict[str, Any] = {"progress_id": min(5, attributes["progress_id"] + 1)}
    elif roll < 0.85:
        changes = {"tag_ids": sorted(rng.sample(range(1, 21), rng.randint(1, 4)))}
    else:
        changes = {"industry_id": rng.randint(1, 12), "source_id": rng.randint(1, 6)}
    attributes.update(changes)
    return {"type": "customer-updated", "customer_id": customer, **changes}


def _opportunity(world: _World, day: int) -> dict[str, Any]:
    pair = _active_pair(world, day)
    if pair is None:
        return _add(world, day)
    employee, customer = pair
    world.next_opportunity += 1
    return {
        "type": "opportunity-created",
        "employee_id": employee.employee_id,
        "customer_id": customer,
        "opportunity_id": world.plan.tenant_id * 100_000 + world.next_opportunity,
    }


_MAKERS = {
    "follow-recorded": _follow,
    "customer-added": _add,
    "customer-updated": _update,
    "customer-lost": _lose,
    "opportunity-created": _opportunity,
}


HOUR_WEIGHTS = [0] * 8 + [3, 8, 9, 8, 3, 6, 9, 9, 8, 7, 5, 2, 1, 1, 0, 0]
"""Office hours, a lunch break and a few late evenings."""


def _moment(rng: random.Random, midnight: datetime.datetime) -> datetime.datetime:
    """A time of day on the day starting at `midnight`."""
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    return midnight + datetime.timedelta(hours=hour, seconds=rng.randrange(3600))


def _profile(employee: _Employee) -> dict[str, Any]:
    return {
        "type": "employee-upserted",
        "employee_id": employee.employee_id,
        "name": employee.name,
        "department_ids": list(employee.department_ids),
        "userid": employee.userid,
        "avatar_mediaid": employee.avatar_mediaid,
    }


def _tenant_history(
    rng: random.Random, plan: TenantPlan, first: datetime.date, end: datetime.datetime
) -> list[tuple[datetime.datetime, dict[str, Any]]]:
    zone = end.tzinfo
    staff = _employees(rng, plan)
    world = _World(plan, rng, staff, fresh=rng.sample(range(10_000, 100_000), plan.customers))
    midnights = [
        datetime.datetime.combine(first + datetime.timedelta(days=d), datetime.time(), zone)
        for d in range(HISTORY_DAYS)
    ]
    growth = [0.7 + 0.6 * d / HISTORY_DAYS for d in range(HISTORY_DAYS)]
    weights = [growth[d] * WEEKDAY_WEIGHTS[m.weekday()] for d, m in enumerate(midnights)]
    per_day = [0] * HISTORY_DAYS
    for day in rng.choices(range(HISTORY_DAYS), weights=weights, k=plan.events):
        per_day[day] += 1
    kinds = [k for k in KIND_WEIGHTS if plan.opportunities or k != "opportunity-created"]
    history: list[tuple[datetime.datetime, dict[str, Any]]] = []
    for employee in staff:
        hired = midnights[employee.hired] + datetime.timedelta(hours=9)
        history.append((min(hired, end), _profile(employee)))
    movers = rng.sample([e for e in staff if e.hired == 0], 2)
    for employee in movers:  # a transfer mid-year: the profile changes, history stays
        employee.department_ids = [rng.randint(1, plan.departments)]
        day = rng.randrange(HISTORY_DAYS // 3, 2 * HISTORY_DAYS // 3)
        history.append((_moment(rng, midnights[day]), _profile(employee)))
    for day, count in enumerate(per_day):
        moments = sorted(_moment(rng, midnights[day]) for _ in range(count))
        moments = [moment for moment in moments if moment <= end]  # today: only the past
        chosen = rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds], k=len(moments))
        for moment, kind in zip(moments, chosen, strict=True):
            history.append((moment, _MAKERS[kind](world, day)))
    return history


def demo_events(
    seed: int = 7, *, end: datetime.datetime | None = None, zone: ZoneInfo = SHANGHAI
) -> list[dict[str, Any]]:
    """About 30k valid events of tenants 25, 26 and 27 in time order, the last at or before `end`.

    `end` defaults to now; the history covers the 365 local days up to its day. Tenant
    27 has no opportunity plugin (none of its events is an opportunity).
    """
    end = (end or datetime.datetime.now(datetime.UTC)).astimezone(zone).replace(microsecond=0)
    first = end.date() - datetime.timedelta(days=HISTORY_DAYS - 1)
    rng = random.Random(seed)
    timeline: list[tuple[datetime.datetime, int, dict[str, Any]]] = []
    for plan in PLANS:
        for moment, body in _tenant_history(rng, plan, first, end):
            timeline.append((moment, plan.tenant_id, body))
    timeline.sort(key=lambda item: item[0])
    return [
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "tenant_id": tenant_id,
            "occurred_at": moment.isoformat(),
            **body,
        }
        for moment, tenant_id, body in timeline
    ]
