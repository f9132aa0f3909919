"""The fold of one customer's events: attributes, relationships, facts, duplicates.

Pure Python, no I/O. `apply` is called once per delivered event, in whatever
order the log delivers them; every rule here is built so that the final state
does not depend on that order nor on re-deliveries:

* attributes are last-writer-wins per attribute on `(occurred_at, event_id)`;
* a relationship keeps only its latest add and latest loss, so "active" is a
  function of the set of events, not their order;
* counted events are remembered by a digest of their id, so a re-delivery
  changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import orjson

from events.schema import (
    ATTRIBUTES,
    CustomerAdded,
    CustomerEvent,
    CustomerLost,
    CustomerUpdated,
    FollowRecorded,
    OpportunityCreated,
)
from projector.errors import CorruptState
from projector.facts import Attributes, Fact, FactDelta, Kind, add_into, slices_of

Version = tuple[int, str]
"""(occurred_at in microseconds, event_id): the order of 'latest' in SPEC §2."""

STATE_FORMAT = 3
"""v3: canonical (a pure function of the set of events); v2 states are still read."""
_V2 = 2


_DIGEST = 7


def event_digest(event_id: str) -> bytes:
    """A 56-bit digest of an event id: enough to tell re-deliveries apart, small to store."""
    return hashlib.blake2b(event_id.encode(), digest_size=_DIGEST).digest()


def has_digest(packed: bytes | bytearray, digest: bytes) -> bool:
    """Whether `digest` is one of the fixed-width digests packed end to end in `packed`.

    A customer holds tens of digests: one C-level scan beats building a set on every read."""
    at = packed.find(digest)
    while at >= 0:
        if at % _DIGEST == 0:
            return True
        at = packed.find(digest, at + 1)
    return False


def insert_digest(packed: bytearray, digest: bytes) -> None:
    """Insert `digest` into fixed-width digests kept sorted bytewise (a bisect over chunks)."""
    low, high = 0, len(packed) // _DIGEST
    while low < high:
        middle = (low + high) // 2
        at = middle * _DIGEST
        if packed[at : at + _DIGEST] < digest:
            low = middle + 1
        else:
            high = middle
    at = low * _DIGEST
    packed[at:at] = digest


def _sorted_digests(packed: bytes | bytearray) -> bytearray:
    chunks = sorted(bytes(packed[at : at + _DIGEST]) for at in range(0, len(packed), _DIGEST))
    return bytearray(b"".join(chunks))


@dataclass(slots=True)
class Relationship:
    """Latest add and latest loss of one (employee, customer) pair."""

    added: Version | None = None
    lost: Version | None = None

    def current_fact(self, employee_id: int) -> Fact | None:
        """The CURRENT fact when active: counted at the day of the latest add."""
        if self.added is None or (self.lost is not None and self.lost > self.added):
            return None
        return (employee_id, Kind.CURRENT, self.added[0] // 1_000_000)  # type: ignore[return-value]


@dataclass(slots=True)
class CustomerState:
    attributes: dict[str, tuple[Any, Version]] = field(default_factory=dict)
    relationships: dict[int, Relationship] = field(default_factory=dict)
    facts: dict[Fact, int] = field(default_factory=dict)
    seen: bytearray = field(default_factory=bytearray)
    """Digests of the counted events, packed end to end, sorted bytewise."""
    slices: frozenset[str] | None = field(default=None, compare=False)
    """Cache of slices_of(current()); None after an attribute change."""

    def slice_set(self) -> frozenset[str]:
        if self.slices is None:
            self.slices = slices_of(self.current())
        return self.slices

    def current(self) -> Attributes:
        values = {name: value for name, (value, _) in self.attributes.items()}
        return Attributes(
            industry_id=values.get("industry_id"),
            source_id=values.get("source_id"),
            progress_id=values.get("progress_id"),
            tag_ids=values.get("tag_ids", ()),
        )


@dataclass(frozen=True, slots=True)
class CustomerChange:
    """What one event did: fact changes counted in `slices_before`, then a move of all facts.

    A change with no facts and no move still means the state changed (a newer attribute
    version with the same value) and must be stored."""

    facts: FactDelta
    slices_before: frozenset[str]
    slices_after: frozenset[str]
    employee_id: int | None

    @property
    def moved(self) -> bool:
        return self.slices_before != self.slices_after


def _latest(current: Version | None, candidate: Version) -> Version:
    return candidate if current is None or candidate > current else current


def _merge_attributes(state: CustomerState, carried: dict[str, Any], version: Version) -> bool:
    """Last writer wins per attribute; True when anything held changed (value or version)."""
    changed = False
    for name, value in carried.items():
        held = state.attributes.get(name)
        if held is None or version > held[1]:
            if name == "tag_ids":
                value = tuple(sorted(set(value)))
            state.attributes[name] = (value, version)
            changed = True
    if changed:
        state.slices = None
    return changed


def _set_relationship(
    state: CustomerState,
    employee_id: int,
    delta: FactDelta,
    *,
    added: Version | None = None,
    lost: Version | None = None,
) -> None:
    relationship = state.relationships.setdefault(employee_id, Relationship())
    before = relationship.current_fact(employee_id)
    if added is not None:
        relationship.added = _latest(relationship.added, added)
    if lost is not None:
        relationship.lost = _latest(relationship.lost, lost)
    after = relationship.current_fact(employee_id)
    if before != after:
        if before is not None:
            add_into(delta, [(before, -1)])
        if after is not None:
            add_into(delta, [(after, 1)])


_COUNTED: dict[type, Kind] = {
    CustomerAdded: Kind.ADDED,
    CustomerLost: Kind.LOST,
    FollowRecorded: Kind.FOLLOW,
    OpportunityCreated: Kind.OPPORTUNITY,
}


def apply(state: CustomerState, event: CustomerEvent) -> CustomerChange | None:
    """Fold one event into `state` (mutated); None when it changes nothing (a re-delivery)."""
    version: Version = (event.occurred_at, event.event_id)
    before = state.slice_set()
    if isinstance(event, CustomerUpdated):
        if not _merge_attributes(state, event.changes(), version):
            return None
        return CustomerChange({}, before, state.slice_set(), None)
    digest = event_digest(event.event_id)
    if has_digest(state.seen, digest):
        return None
    insert_digest(state.seen, digest)
    employee_id = event.employee_id
    kind = _COUNTED[type(event)]
    delta: FactDelta = {(employee_id, kind, event.occurred_at // 1_000_000): 1}  # type: ignore[dict-item]
    if isinstance(event, CustomerAdded):
        _set_relationship(state, employee_id, delta, added=version)
        _merge_attributes(state, {name: getattr(event, name) for name in ATTRIBUTES}, version)
    elif isinstance(event, CustomerLost):
        _set_relationship(state, employee_id, delta, lost=version)
    add_into(state.facts, delta.items())
    return CustomerChange(delta, before, state.slice_set(), employee_id)


def fold_all(events: Iterable[CustomerEvent]) -> CustomerState:
    """The final state of one customer's events computed directly (the bulk rebuild's fold):
    equal to folding them one by one with `apply`, in any order, re-deliveries included.

    Latest version per attribute, latest add and loss per employee, one fact per distinct
    counted event id (its first delivery here), CURRENT from the relationships."""
    state = CustomerState()
    counted: set[bytes] = set()
    facts = state.facts
    for event in events:
        version: Version = (event.occurred_at, event.event_id)
        if isinstance(event, CustomerUpdated):
            _merge_attributes(state, event.changes(), version)
            continue
        digest = event_digest(event.event_id)
        if digest in counted:
            continue
        counted.add(digest)
        employee_id = event.employee_id
        fact = (employee_id, _COUNTED[type(event)], event.occurred_at // 1_000_000)
        facts[fact] = facts.get(fact, 0) + 1  # type: ignore[index,call-overload]
        if isinstance(event, CustomerAdded):
            relationship = state.relationships.setdefault(employee_id, Relationship())
            relationship.added = _latest(relationship.added, version)
            _merge_attributes(state, {name: getattr(event, name) for name in ATTRIBUTES}, version)
        elif isinstance(event, CustomerLost):
            relationship = state.relationships.setdefault(employee_id, Relationship())
            relationship.lost = _latest(relationship.lost, version)
    for employee_id, relationship in state.relationships.items():
        current = relationship.current_fact(employee_id)
        if current is not None:
            facts[current] = facts.get(current, 0) + 1
    state.seen = bytearray(b"".join(sorted(counted)))
    return state


# --- persisted form -------------------------------------------------------------------------
#
# v3: orjson of [3, versions, attributes, relationships, facts, seen], canonical:
#   versions    [[microseconds, event_id], ...] sorted, each stored once
#   attributes  [industry, ref, source, ref, progress, ref, tags, ref] (ref -1 = never set)
#   rels        flat [employee, add ref, loss ref, ...] sorted by employee (ref -1 = none)
#   facts       flat [employee, kind, second, ...] sorted, a count > 1 repeats the fact;
#               CURRENT is not stored: it is derived from the relationships on load
#   seen        base64 of the sorted 7-byte digests of the counted events
# Seconds and microseconds are absolute: relative ones save ~10 % of the bytes but made
# `dumps` slower than v2's (bench/state_codec.py).

_CURRENT = int(Kind.CURRENT)


def dumps(state: CustomerState) -> bytes:
    """Canonical compact JSON (v3): the same bytes for the same set of events.

    Written for speed (a state is dumped about once per event): C-level sorts and chains,
    the rare fact counted twice or more on its own path."""
    attributes, relationships, facts = state.attributes, state.relationships, state.facts
    held: set[Version | None] = {version for _, version in attributes.values()}
    held.update([version for rel in relationships.values() for version in (rel.added, rel.lost)])
    held.discard(None)
    ordered: list[Version] = sorted(held)  # type: ignore[arg-type]
    position: dict[Version | None, int] = dict(zip(ordered, range(len(ordered)), strict=True))
    position[None] = -1
    keys = sorted(facts)
    if keys and max(facts.values()) > 1:
        keys = [key for key in keys for _ in range(facts[key])]
    flat = list(chain.from_iterable([key for key in keys if key[1] != _CURRENT]))
    attrs: list[Any] = []
    for name in ATTRIBUTES:
        attribute = attributes.get(name)
        attrs += (None, -1) if attribute is None else (attribute[0], position[attribute[1]])
    rels: list[int] = []
    for employee_id in sorted(relationships):
        rel = relationships[employee_id]
        rels += (employee_id, position[rel.added], position[rel.lost])
    seen = base64.b64encode(state.seen).decode()
    return orjson.dumps([STATE_FORMAT, ordered, attrs, rels, flat, seen])


def _v3_facts(
    versions: list[Version], rels: list[int], flat: list[int]
) -> tuple[dict[int, Relationship], dict[Fact, int]]:
    relationships: dict[int, Relationship] = {}
    facts: dict[Fact, int] = {}
    for at in range(0, len(rels), 3):
        employee_id, added, lost = rels[at : at + 3]
        rel = Relationship(
            None if added < 0 else versions[added], None if lost < 0 else versions[lost]
        )
        relationships[employee_id] = rel
        current = rel.current_fact(employee_id)
        if current is not None:
            facts[current] = facts.get(current, 0) + 1
    for fact in zip(flat[0::3], flat[1::3], flat[2::3], strict=True):
        facts[fact] = facts.get(fact, 0) + 1  # type: ignore[index,call-overload]
    return relationships, facts


def _parse(raw: bytes) -> Any:
    data = orjson.loads(raw)
    if isinstance(data, list) and len(data) == 6 and data[0] == STATE_FORMAT:
        return data
    if isinstance(data, dict) and data.get("v") == _V2:
        return data
    found = data[0] if isinstance(data, list) and data else None
    if isinstance(data, dict):
        found = data.get("v")
    raise CorruptState(f"customer state format {found!r}, expected {STATE_FORMAT} or {_V2}")


def loads_facts(raw: bytes | None) -> list[int]:
    """Only the facts of a stored state, flat: [employee, kind, second, count, ...].

    Readers that need nothing else (the latest dates of a page's rows) skip building the
    attributes and digests."""
    if not raw:
        return []
    data = _parse(raw)
    if isinstance(data, dict):
        v2: list[int] = data["f"]
        return v2
    versions: list[Version] = [(micros, event_id) for micros, event_id in data[1]]
    out: list[int] = []
    for (employee_id, kind, second), count in _v3_facts(versions, data[3], data[4])[1].items():
        out += (employee_id, int(kind), second, count)
    return out


def loads(raw: bytes | None) -> CustomerState:
    if not raw:
        return CustomerState()
    data = _parse(raw)
    if isinstance(data, dict):
        return _loads_v2(data)
    _, raw_versions, raw_attributes, rels, flat, seen_text = data
    versions: list[Version] = [(micros, event_id) for micros, event_id in raw_versions]
    attributes: dict[str, tuple[Any, Version]] = {}
    for at, name in enumerate(ATTRIBUTES):
        ref = raw_attributes[2 * at + 1]
        if ref >= 0:
            value = raw_attributes[2 * at]
            attributes[name] = (tuple(value) if name == "tag_ids" else value, versions[ref])
    relationships, facts = _v3_facts(versions, rels, flat)
    return CustomerState(attributes, relationships, facts, _seen(seen_text))


def _seen(text: str) -> bytearray:
    seen = bytearray(base64.b64decode(text))
    if len(seen) % _DIGEST:
        raise CorruptState(f"customer state: seen digests of {len(seen)} bytes")
    return seen


_NAMES = {"i": "industry_id", "s": "source_id", "p": "progress_id", "t": "tag_ids"}


def _loads_v2(data: dict[str, Any]) -> CustomerState:
    """A v2 state (versions by first reference, digests in arrival order), made canonical."""
    versions: list[Version] = [(ts, eid) for ts, eid in data["t"]]
    attributes: dict[str, tuple[Any, Version]] = {}
    for code, value, at in data["a"]:
        name = _NAMES[code]
        attributes[name] = (tuple(value) if code == "t" else value, versions[at])
    relationships = {
        employee: Relationship(
            None if added < 0 else versions[added], None if lost < 0 else versions[lost]
        )
        for employee, added, lost in data["r"]
    }
    flat = data["f"]
    keys = zip(flat[0::4], flat[1::4], flat[2::4], strict=True)
    facts: dict[Fact, int] = dict(zip(keys, flat[3::4], strict=True))  # type: ignore[arg-type]
    return CustomerState(attributes, relationships, facts, _sorted_digests(_seen(data["s"])))
