"""Seeded, streaming generator of realistic event logs: the one input every system is fed.

A CRM's log is not uniform noise: customers arrive over three years, most traffic
is follow-up records on customers an employee currently owns, some customers are
lost and re-added (sometimes by a colleague), attributes drift, a few employees
own far more customers than others. The log is written day by day in roughly
chronological order with the disorder a real pipeline has: clock skew between
producers, a few late deliveries and a few duplicate redeliveries.

Usage: python -m bench.generate S0 out.jsonl
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

START = date(2023, 1, 1)
"""First day of the simulated log (Asia/Shanghai); fixed so every run sees the same dates."""
OFFSET = "+08:00"
BIG_TENANT = 25
SMALL_TENANT_BASE = 1001
ATTRIBUTE_VALUES = 50
TAGS = 200
MAX_TAGS = 3
LATE_RATE = 0.01
"""Share of events delivered a day late (a producer's outbox catching up)."""
DUPLICATE_RATE = 0.0005
"""Share of events delivered twice (at-least-once redelivery)."""
SKEW_S = 90
"""Emission order is by occurred_at plus up to this much producer clock skew."""

# Shares of the non-initial-add events; initial adds are one per customer.
MIX = (("follow", 0.73), ("update", 0.15), ("lost", 0.07), ("readd", 0.03), ("opportunity", 0.02))

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红梓杰子轩浩然宇轩欣怡"
    "雨涵思远嘉怡俊杰文博志强建华晓东丹丹海燕雪梅晨曦佳琪一鸣"
)


@dataclass(frozen=True, slots=True)
class Scale:
    """Size of one generated log; the big tenant gets `events`, each small tenant `small_events`."""

    name: str
    customers: int
    events: int
    small_tenants: int
    employees: int = 2000
    departments: int = 40
    days: int = 1095
    small_employees: int = 10
    small_customers: int = 150
    small_events: int = 1000
    seed: int = 20261124

    @property
    def total_events(self) -> int:
        """Approximate size of the log (duplicates excluded)."""
        return self.events + self.small_tenants * self.small_events


SCALES: dict[str, Scale] = {
    "S0": Scale("S0", customers=20_000, events=180_000, small_tenants=20),
    "S1q": Scale("S1q", customers=125_000, events=1_250_000, small_tenants=50),
    "S1": Scale("S1", customers=500_000, events=5_000_000, small_tenants=200),
}
"""S0 is the quick run; S1q is S1/4 (for the cost-growth table); S1 the full target."""


def _zipf_cum(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


@dataclass(slots=True)
class _Tenant:
    """One tenant's simulated state: who owns which customer, and what to emit next."""

    tenant_id: int
    employees: list[int]
    departments: list[int]
    customer_base: int
    customers: int
    events: int
    opportunities: bool
    rng: random.Random
    days: int
    owner: list[int] = field(default_factory=list)
    """Per customer: owning employee id, -1 when lost, 0 before its first add."""
    co_owner: dict[int, int] = field(default_factory=dict)
    lost: list[int] = field(default_factory=list)
    added: int = 0
    seq: int = 0
    opportunity_seq: int = 0
    employee_cum: list[float] = field(default_factory=list)
    first_adds: list[int] = field(default_factory=list)
    other_events: list[int] = field(default_factory=list)

    def plan(self) -> None:
        """Spread first adds and the other events over the days (growth, quiet weekends)."""
        rng, days = self.rng, self.days
        self.owner = [0] * self.customers
        self.employee_cum = list(
            itertools.accumulate(rng.lognormvariate(0, 0.9) for _ in self.employees)
        )
        weekday = [0.3 if (START + timedelta(d)).weekday() >= 5 else 1.0 for d in range(days)]
        add_weight = [weekday[d] * (0.6 + 0.8 * d / days) for d in range(days)]
        self.first_adds = _apportion(self.customers, add_weight)
        # activity follows the number of customers already added
        base = list(itertools.accumulate(self.first_adds))
        other_weight = [weekday[d] * (base[d] + 0.02 * self.customers) for d in range(days)]
        others = self.events - self.customers - len(self.employees)
        self.other_events = _apportion(max(others, 0), other_weight)

    def _event(self, kind: str, second: int, day: date, **fields: Any) -> tuple[int, bytes]:
        self.seq += 1
        stamp = f"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        body = {
            "event_id": f"{self.tenant_id}-{self.seq:09d}",
            "type": kind,
            "tenant_id": self.tenant_id,
            "occurred_at": stamp + OFFSET,
            **fields,
        }
        return second, orjson.dumps(body)

    def employee_profiles(self, day: date, names: Iterator[str]) -> list[tuple[int, bytes]]:
        rng = self.rng
        out = []
        for number, employee in enumerate(self.employees):
            departments = [rng.choice(self.departments)]
            if rng.random() < 0.1:
                departments.append(rng.choice(self.departments))
            out.append(
                self._event(
                    "employee-upserted",
                    8 * 3600 + number % 3600,
                    day,
                    employee_id=employee,
                    name=next(names),
                    department_ids=sorted(set(departments)),
                    userid=None if rng.random() < 0.1 else f"wx{employee:06d}",
                    avatar_mediaid=None if rng.random() < 0.7 else f"media-{employee}",
                )
            )
        return out

    def _attributes(self) -> dict[str, Any]:
        rng = self.rng
        tags = {_pick(rng, TAG_CUM) for _ in range(rng.choice((0, 1, 1, 2, 2, 3)))}
        return {
            "industry_id": None if rng.random() < 0.08 else _pick(rng, VALUE_CUM),
            "source_id": None if rng.random() < 0.03 else _pick(rng, VALUE_CUM),
            "progress_id": None if rng.random() < 0.05 else _pick(rng, VALUE_CUM),
            "tag_ids": sorted(tags),
        }

    def _employee(self) -> int:
        cum = self.employee_cum
        return self.employees[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def _active_customer(self) -> int | None:
        for _ in range(8):
            number = self.rng.randrange(self.added)
            if self.owner[number] > 0:
                return number
        return None

    def day_events(self, number: int, day: date) -> list[tuple[int, bytes]]:
        """The tenant's events of one day, in occurred_at order."""
        rng = self.rng
        firsts = self.first_adds[number]
        others = self.other_events[number]
        seconds = sorted(_second_of_day(rng) for _ in range(firsts + others))
        kinds = ["add"] * firsts + _draw_kinds(rng, others)
        rng.shuffle(kinds)
        out: list[tuple[int, bytes]] = []
        for second, kind in zip(seconds, kinds, strict=True):
            event = self._one(kind, second, day)
            if event is not None:
                out.append(event)
        return out

    def _one(self, kind: str, second: int, day: date) -> tuple[int, bytes] | None:
        rng = self.rng
        if kind == "add":
            number = self.added
            self.added += 1
            employee = self._employee()
            self.owner[number] = employee
            return self._event(
                "customer-added",
                second,
                day,
                employee_id=employee,
                customer_id=self.customer_base + number,
                **self._attributes(),
            )
        if self.added == 0:
            return None
        if kind == "update":
            number = rng.randrange(self.added)
            changes: dict[str, Any] = {}
            attributes = self._attributes()
            roll = rng.random()
            if roll < 0.6:
                changes["progress_id"] = attributes["progress_id"]
            elif roll < 0.85:
                changes["tag_ids"] = attributes["tag_ids"]
            elif roll < 0.95:
                changes["industry_id"] = attributes["industry_id"]
            else:
                changes = attributes
            return self._event(
                "customer-updated", second, day, customer_id=self.customer_base + number, **changes
            )
        if kind == "readd":
            if self.lost and rng.random() < 0.7:
                slot = rng.randrange(len(self.lost))
                self.lost[slot], self.lost[-1] = self.lost[-1], self.lost[slot]
                number = self.lost.pop()
                employee = self._employee()
                self.owner[number] = employee
            else:  # a colleague adds a customer someone already owns
                found = self._active_customer()
                if found is None:
                    return None
                number = found
                employee = self._employee()
                if employee == self.owner[number]:
                    return None
                self.co_owner[number] = employee
            return self._event(
                "customer-added",
                second,
                day,
                employee_id=employee,
                customer_id=self.customer_base + number,
                **self._attributes(),
            )
        found = self._active_customer()
        if found is None:
            return None
        number = found
        employee = self.owner[number]
        colleague = self.co_owner.get(number)
        if colleague is not None and rng.random() < 0.4:
            employee = colleague
        customer_id = self.customer_base + number
        if kind == "lost":
            if employee == colleague:
                del self.co_owner[number]
            else:
                self.owner[number] = self.co_owner.pop(number, -1)
                if self.owner[number] == -1:
                    self.lost.append(number)
            return self._event(
                "customer-lost", second, day, employee_id=employee, customer_id=customer_id
            )
        if kind == "opportunity":
            if not self.opportunities:
                return None
            self.opportunity_seq += 1
            return self._event(
                "opportunity-created",
                second,
                day,
                employee_id=employee,
                customer_id=customer_id,
                opportunity_id=self.tenant_id * 10_000_000 + self.opportunity_seq,
            )
        return self._event(
            "follow-recorded", second, day, employee_id=employee, customer_id=customer_id
        )


VALUE_CUM = _zipf_cum(ATTRIBUTE_VALUES, 0.8)
TAG_CUM = _zipf_cum(TAGS, 0.9)
_MIX_NAMES = [name for name, _ in MIX]
_MIX_CUM = list(itertools.accumulate(share for _, share in MIX))


def _pick(rng: random.Random, cum: list[float]) -> int:
    """A value id 1..n with Zipf-like popularity (a few industries dominate, as in real CRMs)."""
    return bisect.bisect(cum, rng.random() * cum[-1]) + 1


def _draw_kinds(rng: random.Random, count: int) -> list[str]:
    return rng.choices(_MIX_NAMES, cum_weights=_MIX_CUM, k=count)


def _second_of_day(rng: random.Random) -> int:
    """Mostly office hours, some evenings, a few nights."""
    if rng.random() < 0.9:
        return int(rng.triangular(8.5, 21.0, 14.0) * 3600)
    return rng.randrange(86_400)


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Integer counts proportional to `weights` that add up to exactly `total`."""
    scale = total / sum(weights)
    counts = [int(weight * scale) for weight in weights]
    remainders = sorted(
        range(len(weights)), key=lambda d: weights[d] * scale - counts[d], reverse=True
    )
    for d in remainders[: total - sum(counts)]:
        counts[d] += 1
    return counts


def _names(rng: random.Random) -> Iterator[str]:
    while True:
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
        yield rng.choice(SURNAMES) + given


def _tenants(scale: Scale, rng: random.Random) -> list[_Tenant]:
    tenants = [
        _Tenant(
            BIG_TENANT,
            employees=list(range(1001, 1001 + scale.employees)),
            departments=list(range(101, 101 + scale.departments)),
            customer_base=1,
            customers=scale.customers,
            events=scale.events,
            opportunities=True,
            rng=random.Random(rng.random()),
            days=scale.days,
        )
    ]
    employee_base = 1001 + scale.employees
    customer_base = 1 + scale.customers
    for number in range(scale.small_tenants):
        tenants.append(
            _Tenant(
                SMALL_TENANT_BASE + number,
                employees=list(range(employee_base, employee_base + scale.small_employees)),
                departments=[10_000 + 3 * number + k for k in range(3)],
                customer_base=customer_base,
                customers=scale.small_customers,
                events=scale.small_events,
                opportunities=number % 3 != 0,
                rng=random.Random(rng.random()),
                days=scale.days,
            )
        )
        employee_base += scale.small_employees
        customer_base += scale.small_customers
    return tenants


def generate(scale: Scale) -> Iterator[bytes]:
    """The log of `scale` as JSON lines (each without newline), in emission order."""
    rng = random.Random(scale.seed)
    names = _names(random.Random(scale.seed + 1))
    tenants = _tenants(scale, rng)
    for tenant in tenants:
        tenant.plan()
    late: list[bytes] = []
    for number in range(scale.days):
        day = START + timedelta(number)
        events: list[tuple[float, bytes]] = []
        for tenant in tenants:
            if number == 0:
                events += tenant.employee_profiles(day, names)
            for second, line in tenant.day_events(number, day):
                events.append((second + rng.random() * SKEW_S, line))
        events.sort(key=lambda pair: pair[0])
        carried = late
        late = []
        for _, line in events:
            roll = rng.random()
            if roll < LATE_RATE:
                late.append(line)
                continue
            yield line
            if roll > 1.0 - DUPLICATE_RATE:
                late.append(line)  # redelivered a day later
        yield from carried
    yield from late


def write(scale: Scale, path: Path) -> int:
    """Write the log of `scale` to `path`; returns the number of lines."""
    count = 0
    with path.open("wb", buffering=1 << 20) as out:
        buffer: list[bytes] = []
        for line in generate(scale):
            buffer.append(line)
            if len(buffer) >= 10_000:
                out.write(b"\n".join(buffer) + b"\n")
                count += len(buffer)
                buffer.clear()
        if buffer:
            out.write(b"\n".join(buffer) + b"\n")
            count += len(buffer)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(SCALES))
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    count = write(SCALES[args.scale], args.out)
    elapsed = time.monotonic() - started
    print(
        f"{args.scale}: {count} lines in {elapsed:.1f} s ({count / elapsed:,.0f}/s)",
        file=sys.stderr,
    )
    return 0


def _stream_stats(lines: IO[bytes]) -> dict[str, int]:
    """Counts per event type of a written log (for the report)."""
    counts: dict[str, int] = {}
    for line in lines:
        kind = orjson.loads(line)["type"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
