"""The bulk phase of a rebuild: the log up to captured end offsets, projected in batch mode.

1. The new version's format key is set to `BUILDING` (0): a rebuild meeting it later does
   not resume it, it deletes it (rebuild `_target`), so a half-written bulk is never
   switched to.
2. The end offsets E of every partition are captured; every record below E is read and
   decoded, customer events grouped by (tenant, customer), profiles folded as they come.
3. Each customer is folded once (`customer.fold_all`); its state (v3 bytes, the same as the
   incremental path's), slice and employee-month members are written with pipelined plain
   commands, its facts recorded through the incremental path's own `CellProjection`, in
   chunks of customers; the cells of every chunk are summed (`bulk_cells.CellTotals`) and
   written whole once, as plain SETs.
4. Employee indexes (ascending employee id per tenant), profiles, named employees, tenants,
   meta, then, in one MULTI, the offsets E, the freshness targets (`target:<p>` = E) and the
   real format: from then on the version is an ordinary, resumable rebuild and the
   incremental runner continues from E.

Memory: until the end of input, every customer event's record bytes (~250 B) in a list per
customer and a profile per employee; then, one chunk at a time, its states and facts;
the summed cells (one row of three int64 per distinct cell) until they are written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis

from events.decode import Poison, decode
from events.schema import CustomerEvent, CustomerUpdated, EmployeeUpserted, OpportunityCreated
from projector import customer as customer_fold
from projector.bulk_cells import CellTotals
from projector.bulk_log import BulkLog, KafkaLog
from projector.calendar import LocalCalendar
from projector.cells import BatchWrites, CellProjection
from projector.config import ProjectorConfig
from projector.control import target_field
from projector.employee import Profile, apply_profile, dumps_profile
from projector.facts import ALL, DATED_KINDS
from projector.layout import Layout
from projector.signals import stop_on_signals
from projector.versions import PROJECTION_FORMAT

log = logging.getLogger(__name__)
BUILDING = 0
"""The format a version holds while the bulk phase writes it: never resumed, never switched to."""
CHUNK = 5_000
"""Customers folded and written per chunk."""
PIPELINE = 1_000
"""Commands per pipelined round trip."""


class Stop(Protocol):
    def is_set(self) -> bool: ...


@dataclass(slots=True)
class Gathered:
    """The log below the end offsets, grouped: what the bulk phase holds until it writes.
    Customer events are held as their record bytes (~250 B each, against ~600 B decoded) and
    decoded again when their customer is folded."""

    customers: dict[tuple[int, int], list[bytes]] = field(default_factory=lambda: defaultdict(list))
    profiles: dict[tuple[int, int], Profile] = field(default_factory=dict)
    named: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    events: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    """Per tenant: profile events (meta `events`); customer events are counted when folded."""
    opportunity: set[int] = field(default_factory=set)
    poison: int = 0
    records: int = 0


def gather(log_: BulkLog, ends: Mapping[int, int], stop: Stop) -> Gathered | None:
    """Read and decode every record below `ends`; None when stopped."""
    gathered = Gathered()
    for record in log_.records(ends):
        gathered.records += 1
        if gathered.records % 10_000 == 0 and stop.is_set():
            return None
        event = decode(record.value)
        if isinstance(event, Poison):
            gathered.poison += 1
            continue
        tenant = event.tenant_id
        if isinstance(event, EmployeeUpserted):
            key = (tenant, event.employee_id)
            gathered.named[tenant].add(event.employee_id)
            gathered.events[tenant] += 1
            updated = apply_profile(gathered.profiles.get(key, Profile()), event)
            if updated is not None:
                gathered.profiles[key] = updated
            continue
        gathered.customers[(tenant, event.customer_id)].append(record.value)  # type: ignore[arg-type]
        if not isinstance(event, CustomerUpdated):
            gathered.named[tenant].add(event.employee_id)
            if isinstance(event, OpportunityCreated):
                gathered.opportunity.add(tenant)
    return gathered


class Writer:
    """Plain commands in pipelined round trips of `PIPELINE` commands; string values go out
    as MSETs of up to `PIPELINE` keys (redis-py's per-command cost, not Redis, bounds this)."""

    def __init__(self, client: redis.Redis) -> None:
        self.pipe = client.pipeline(transaction=False)
        self.queued = 0
        self.commands = 0
        self.values: dict[str, bytes] = {}
        self.value_bytes = 0

    def __call__(self, command: str, *args: Any, **kwargs: Any) -> None:
        getattr(self.pipe, command)(*args, **kwargs)
        self.queued += 1
        if self.queued >= PIPELINE:
            self.flush()

    def set(self, key: str, value: bytes) -> None:
        self.values[key] = value
        self.value_bytes += len(value)
        if self.value_bytes > 8 << 20:  # a round trip of its own: bounded client buffers
            self.flush()
        elif len(self.values) >= PIPELINE:
            self._mset()

    def _mset(self) -> None:
        if self.values:
            self.pipe.mset(self.values)
            self.commands += len(self.values) - 1
            self.values = {}
            self.value_bytes = 0
            self.queued += 1
            if self.queued >= PIPELINE:
                self.flush()

    def flush(self) -> None:
        self._mset()
        if self.queued:
            self.pipe.execute()
            self.commands += self.queued
            self.queued = 0


@dataclass(slots=True)
class Meta:
    counts: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    first_day: dict[int, int] = field(default_factory=dict)
    last_day: dict[int, int] = field(default_factory=dict)


def _fold_chunk(
    keys: list[tuple[int, int]],
    gathered: Gathered,
    projection: CellProjection,
    index: Mapping[int, Mapping[int, int]],
    write: Writer,
    meta: Meta,
) -> BatchWrites:
    """Fold a chunk of customers: states and members written now, facts recorded as cells."""
    layout, calendar = projection.layout, projection.calendar
    writes = BatchWrites()
    members: dict[str, list[str]] = defaultdict(list)
    for tenant, customer_id in keys:
        events = cast(
            list[CustomerEvent], list(map(decode, gathered.customers.pop((tenant, customer_id))))
        )
        state = customer_fold.fold_all(events)
        if state.attributes or state.seen:  # else only updates carrying nothing: no state
            write.set(layout.customer(tenant, customer_id), customer_fold.dumps(state))
        member = str(customer_id)
        counted = len(state.seen) // 7
        updates = sum(isinstance(event, CustomerUpdated) for event in events)
        meta.counts[(tenant, "events")] += counted + updates
        meta.counts[(tenant, "duplicates")] += len(events) - updates - counted
        slices = state.slice_set()
        for slice_ in slices - {ALL}:
            members[layout.slice_members(tenant, slice_)].append(member)
        for employee_id, kind, second in state.facts:
            if kind in DATED_KINDS:
                month = calendar.month(calendar.day(second))
                members[layout.employee_month_customers(tenant, employee_id, month)].append(member)
        projection.facts(writes, tenant, index.get(tenant, {}), state.facts.items(), slices)
    for key, names in members.items():
        write("sadd", key, *names)
    projection.flush(writes)
    tenant_of = {layout.meta(tenant): tenant for tenant, _ in keys}
    for (key, _), least in writes.hash_minima.items():
        tenant = tenant_of[key]
        meta.first_day[tenant] = min(least, meta.first_day.get(tenant, least))
    for (key, _), greatest in writes.hash_maxima.items():
        tenant = tenant_of[key]
        meta.last_day[tenant] = max(greatest, meta.last_day.get(tenant, greatest))
    return writes


def employee_indexes(gathered: Gathered) -> dict[int, dict[int, int]]:
    """Canonical employee indexes: ascending employee id per tenant."""
    return {
        tenant: {employee: at for at, employee in enumerate(sorted(employees))}
        for tenant, employees in gathered.named.items()
    }


def _write_globals(
    write: Writer, layout: Layout, gathered: Gathered, index: Mapping[int, Mapping[int, int]]
) -> None:
    for tenant, positions in index.items():
        mapping: dict[str, int] = {str(e): at for e, at in positions.items()}
        write("hset", layout.employee_index(tenant), mapping={**mapping, "#": len(positions)})
        write("sadd", layout.named_employees(tenant), *map(str, positions))
    profiles: dict[int, dict[str, bytes]] = defaultdict(dict)
    for (tenant, employee_id), profile in gathered.profiles.items():
        profiles[tenant][str(employee_id)] = dumps_profile(profile)
    for tenant, mapping_ in profiles.items():
        write("hset", layout.profiles(tenant), mapping=mapping_)
    tenants = set(gathered.events) | {tenant for tenant, _ in gathered.customers}
    if tenants:
        write("sadd", layout.tenants, *map(str, sorted(tenants)))


def _write_meta(write: Writer, layout: Layout, gathered: Gathered, meta: Meta, topic: str) -> None:
    for tenant, count in gathered.events.items():
        meta.counts[(tenant, "events")] += count
    for tenant, _ in gathered.profiles:
        meta.counts[(tenant, "profiles")] += 1
    fields: dict[int, dict[str, int]] = defaultdict(dict)
    for (tenant, name), count in meta.counts.items():
        if count:
            fields[tenant][name] = count
    for tenant in gathered.opportunity:
        fields[tenant]["opportunity"] = 1
    for tenant, day in meta.first_day.items():
        fields[tenant]["first_day"] = day
    for tenant, day in meta.last_day.items():
        fields[tenant]["last_day"] = day
    for tenant, mapping in fields.items():
        write("hset", layout.meta(tenant), mapping=mapping)
    if gathered.poison:
        write("hset", layout.dead_letters(topic), mapping={"count": gathered.poison})


@dataclass(frozen=True, slots=True)
class BulkResult:
    ends: dict[int, int]
    records: int
    customers: int
    commands: int
    seconds: dict[str, float]


def project(
    client: redis.Redis, layout: Layout, calendar: LocalCalendar, gathered: Gathered, topic: str
) -> tuple[int, dict[str, float]]:
    """Write the projection of `gathered` into `layout` (plain pipelined commands): the count of
    commands and the seconds of each part (folding and writing states and members, cells)."""
    started = time.monotonic()
    write = Writer(client)
    index = employee_indexes(gathered)
    _write_globals(write, layout, gathered, index)
    projection = CellProjection(layout, calendar)
    totals = CellTotals()
    meta = Meta()
    keys = sorted(gathered.customers)
    for start in range(0, len(keys), CHUNK):
        writes = _fold_chunk(keys[start : start + CHUNK], gathered, projection, index, write, meta)
        totals.add(writes.cells)
    write.flush()
    folded = time.monotonic()
    for key, value in totals.values():
        write.set(key, value)
    _write_meta(write, layout, gathered, meta, topic)
    write.flush()
    seconds = {"fold_states_members": folded - started, "cells": time.monotonic() - folded}
    return write.commands, seconds


def finish(client: redis.Redis, layout: Layout, topic: str, ends: Mapping[int, int]) -> None:
    """Offsets, the completeness targets (`target:<p>` = the captured end offsets, so a
    rebuild's percent counts from them) and the real format, in one MULTI: all or nothing."""
    pipe = client.pipeline(transaction=True)
    offsets: dict[Any, Any] = {str(p): end for p, end in ends.items() if end > 0}
    if offsets:
        pipe.hset(layout.offsets(topic), mapping=offsets)
    if ends:
        targets: dict[Any, Any] = {target_field(p): end for p, end in ends.items()}
        pipe.hset(layout.fresh_key, mapping=targets)
    pipe.set(layout.format_key, PROJECTION_FORMAT)
    pipe.execute()


def build(
    client: redis.Redis,
    layout: Layout,
    log_: BulkLog,
    calendar: LocalCalendar,
    topic: str,
    stop: Stop | None = None,
) -> BulkResult | None:
    """The bulk phase into the fresh version `layout`; None when stopped (left BUILDING)."""
    stop = stop or threading.Event()
    client.set(layout.format_key, BUILDING)
    started = time.monotonic()
    ends = log_.end_offsets()
    gathered = gather(log_, ends, stop)
    if gathered is None or stop.is_set():
        return None
    read = time.monotonic()
    customers = len(gathered.customers)
    commands, seconds = project(client, layout, calendar, gathered, topic)
    written = time.monotonic()
    finish(client, layout, topic, ends)
    seconds["read"] = read - started
    log.info(
        "bulk: %d records, %d customers, %d commands into v%d in %.1f s (%s)",
        gathered.records,
        customers,
        commands,
        layout.version,
        written - started,
        ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()),
    )
    return BulkResult(dict(ends), gathered.records, customers, commands, seconds)


def run_phase(config: ProjectorConfig, client: redis.Redis, layout: Layout) -> BulkResult | None:
    """The bulk phase of `custstats rebuild` from Kafka; None when a signal stopped it."""
    stop = threading.Event()
    stop_on_signals(stop)
    log_ = KafkaLog(config)
    try:
        return build(client, layout, log_, LocalCalendar(config.zone), config.topic, stop)
    finally:
        log_.close()
