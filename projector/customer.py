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
from dataclasses import dataclass, field
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

STATE_FORMAT = 2


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
    """Digests of the counted events, packed end to end in arrival order."""
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
    state.seen += digest
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


# --- persisted form -------------------------------------------------------------------------


_CODES = {"industry_id": "i", "source_id": "s", "progress_id": "p", "tag_ids": "t"}
_NAMES = {code: name for name, code in _CODES.items()}


def dumps(state: CustomerState) -> bytes:
    """Compact JSON: versions stored once and referred to by position, seen digests packed.

    The format number lets a newer projector refuse an older layout."""
    versions: list[Version] = []
    position: dict[Version, int] = {}

    def ref(version: Version | None) -> int:
        if version is None:
            return -1
        at = position.get(version)
        if at is None:
            at = position[version] = len(versions)
            versions.append(version)
        return at

    attributes = [
        [_CODES[name], value, ref(version)] for name, (value, version) in state.attributes.items()
    ]
    relationships = [
        [employee, ref(rel.added), ref(rel.lost)] for employee, rel in state.relationships.items()
    ]
    facts: list[int] = []
    for (employee_id, kind, second), count in state.facts.items():
        facts.extend((employee_id, int(kind), second, count))
    return orjson.dumps(
        {
            "v": STATE_FORMAT,
            "t": versions,
            "a": attributes,
            "r": relationships,
            "f": facts,
            "s": base64.b64encode(state.seen).decode(),
        }
    )


def loads_facts(raw: bytes | None) -> list[int]:
    """Only the facts of a stored state, flat: [employee, kind, second, count, ...].

    Readers that need nothing else (the latest dates of a page's rows) skip decoding the
    versions, relationships and digests."""
    if not raw:
        return []
    data = orjson.loads(raw)
    if data.get("v") != STATE_FORMAT:
        raise CorruptState(f"customer state format {data.get('v')!r}, expected {STATE_FORMAT}")
    facts: list[int] = data["f"]
    return facts


def loads(raw: bytes | None) -> CustomerState:
    if not raw:
        return CustomerState()
    data = orjson.loads(raw)
    if data.get("v") != STATE_FORMAT:
        raise CorruptState(f"customer state format {data.get('v')!r}, expected {STATE_FORMAT}")
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
    seen = bytearray(base64.b64decode(data["s"]))
    if len(seen) % _DIGEST:
        raise CorruptState(f"customer state: seen digests of {len(seen)} bytes")
    return CustomerState(attributes, relationships, facts, seen)
