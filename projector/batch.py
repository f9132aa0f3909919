"""One poll batch as a pure fold: what to read first, then the merged writes it produces.

The store reads a `Snapshot` of every state the batch touches, `fold_batch` runs
the per-customer and per-employee folds over the events in delivery order, and
returns a `BatchWrites` whose checks make the write conditional on nobody else
having changed those states in between (a rebalance zombie, say).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from events.schema import (
    CustomerAdded,
    CustomerUpdated,
    EmployeeUpserted,
    Event,
    OpportunityCreated,
)
from projector import customer as customer_fold
from projector.cells import BatchWrites, CellProjection
from projector.control import META_DUPLICATES, META_EVENTS, META_OPPORTUNITY, META_PROFILES
from projector.customer import CustomerState
from projector.employee import Profile, apply_profile, dumps_profile, loads_profile
from projector.facts import ALL, DATED_KINDS
from projector.layout import Layout

TenantCustomer = tuple[int, int]
TenantEmployee = tuple[int, int]


@dataclass(slots=True)
class ReadRequest:
    customers: set[TenantCustomer] = field(default_factory=set)
    profiles: set[TenantEmployee] = field(default_factory=set)
    employees: set[TenantEmployee] = field(default_factory=set)
    movable: set[TenantCustomer] = field(default_factory=set)
    """Customers with an event that may change their attributes (and so move their facts)."""


def read_request(events: Iterable[Event]) -> ReadRequest:
    request = ReadRequest()
    for event in events:
        tenant = event.tenant_id
        if isinstance(event, EmployeeUpserted):
            request.profiles.add((tenant, event.employee_id))
            request.employees.add((tenant, event.employee_id))
        else:
            request.customers.add((tenant, event.customer_id))
            if isinstance(event, CustomerAdded | CustomerUpdated):
                request.movable.add((tenant, event.customer_id))
            employee = getattr(event, "employee_id", None)
            if employee is not None:
                request.employees.add((tenant, employee))
    return request


@dataclass(slots=True)
class Snapshot:
    """States as read (raw bytes, which the write checks are unchanged), parsed once."""

    customers: dict[TenantCustomer, tuple[bytes | None, bytes | None]] = field(default_factory=dict)
    profiles: dict[TenantEmployee, bytes | None] = field(default_factory=dict)
    index: dict[int, dict[int, int]] = field(default_factory=dict)
    parsed: dict[TenantCustomer, CustomerState] = field(default_factory=dict)

    def state(self, key: TenantCustomer) -> CustomerState:
        state = self.parsed.get(key)
        if state is None:
            raw = self.customers.get(key, (None, None))[0]
            state = self.parsed[key] = customer_fold.loads(raw)
        return state


def employees_in_history(
    snapshot: Snapshot, movable: set[TenantCustomer] | None = None
) -> set[TenantEmployee]:
    """Employees a customer's facts name: a move of that customer needs their indexes.
    Only customers in `movable` (those with an attribute-carrying event) can move."""
    named: set[TenantEmployee] = set()
    for key, (raw, _) in snapshot.customers.items():
        if raw and (movable is None or key in movable):
            tenant = key[0]
            named.update((tenant, fact[0]) for fact in snapshot.state(key).facts)
    return named


def fold_batch(
    events: Sequence[Event], snapshot: Snapshot, projection: CellProjection
) -> BatchWrites:
    layout = projection.layout
    calendar = projection.calendar
    writes = BatchWrites()
    states: dict[TenantCustomer, CustomerState] = {}
    profiles: dict[TenantEmployee, Profile] = {}
    changed: set[TenantCustomer] = set()
    for event in events:
        tenant = event.tenant_id
        writes.member(layout.tenants, str(tenant), True)
        meta = layout.meta(tenant)
        if isinstance(event, EmployeeUpserted):
            writes.member(layout.named_employees(tenant), str(event.employee_id), True)
            key = (tenant, event.employee_id)
            held = profiles.get(key)
            if held is None:
                held = loads_profile(snapshot.profiles.get(key))
            updated = apply_profile(held, event)
            if updated is not None:
                profiles[key] = updated
            writes.hash_count(meta, META_EVENTS, 1)
            continue
        key = (tenant, event.customer_id)
        state = states.get(key)
        if state is None:
            state = states[key] = snapshot.state(key)
        change = customer_fold.apply(state, event)
        if change is None:
            stale_update = isinstance(event, CustomerUpdated)
            writes.hash_count(meta, META_EVENTS if stale_update else META_DUPLICATES, 1)
            continue
        writes.hash_count(meta, META_EVENTS, 1)
        changed.add(key)
        index = snapshot.index[tenant]
        member = str(event.customer_id)
        if change.employee_id is not None:
            writes.member(layout.named_employees(tenant), str(change.employee_id), True)
            for (employee_id, kind, second), count in change.facts.items():
                if count > 0 and kind in DATED_KINDS:
                    month = calendar.month(calendar.day(second))
                    customers = layout.employee_month_customers(tenant, employee_id, month)
                    writes.member(customers, member, True)
        if isinstance(event, OpportunityCreated):
            writes.hash_sets[(meta, META_OPPORTUNITY)] = b"1"
        if change.facts:
            projection.facts(writes, tenant, index, change.facts.items(), change.slices_before)
        if change.moved:
            left = change.slices_before - change.slices_after
            joined = change.slices_after - change.slices_before
            projection.facts(writes, tenant, index, state.facts.items(), left, -1)
            projection.facts(writes, tenant, index, state.facts.items(), joined, 1)
            for slice_ in left - {ALL}:
                writes.member(layout.slice_members(tenant, slice_), member, False)
            for slice_ in joined - {ALL}:
                writes.member(layout.slice_members(tenant, slice_), member, True)
    projection.flush(writes)
    _write_states(writes, snapshot, layout, {key: states[key] for key in changed}, profiles)
    return writes


def _write_states(
    writes: BatchWrites,
    snapshot: Snapshot,
    layout: Layout,
    states: dict[TenantCustomer, CustomerState],
    profiles: dict[TenantEmployee, Profile],
) -> None:
    """The changed states, each checked to be still what the batch was folded from."""
    for (tenant, customer_id), state in states.items():
        key_ = layout.customer(tenant, customer_id)
        writes.expect(key_, "", snapshot.customers.get((tenant, customer_id), (None, None))[0])
        writes.values[key_] = customer_fold.dumps(state)
    for (tenant, employee_id), profile in profiles.items():
        profiles_key = layout.profiles(tenant)
        writes.expect(profiles_key, str(employee_id), snapshot.profiles.get((tenant, employee_id)))
        written = writes.hash_sets[(profiles_key, str(employee_id))] = dumps_profile(profile)
        writes.profiles[(profiles_key, str(employee_id))] = written
        writes.hash_count(layout.meta(tenant), META_PROFILES, 1)  # readers' staff caches key on it
