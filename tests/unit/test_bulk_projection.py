"""The bulk rebuild writes the projection the incremental path writes, key by key.

The same random events (tests/strategies.py), re-delivered, shuffled and split over
partitions, are projected twice on one fake Redis: incrementally by the production runner
(real Lua, poll batches of random size) with the employee indexes seeded as the bulk
assigns them, and by `bulk.build`. Customer states must be equal as bytes; `*` blobs as
cells with trailing zeros ignored (a blob's length is the highest slot ever touched, which a
cancelled cell leaves behind); filter logs as bytes after `codec.compact(fl, ft)` of the
incremental side; hashes and sets as such; meta's `profiles` cache token is left out.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import fakeredis
import numpy as np
import orjson
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projector import bulk, codec, rebuild
from projector.bulk_log import MemoryLog
from projector.calendar import LocalCalendar
from projector.control import REBUILD
from projector.facts import KINDS
from projector.runner import ProjectorRunner
from projector.source import MemoryRecord, MemorySource
from projector.versions import PROJECTION_FORMAT, current_layout, written_format
from tests.contract import poll_batches
from tests.harness import SHANGHAI, TOPIC, config
from tests.strategies import deliveries, event_lists


def _records(partitions: list[list[dict[str, Any]]]) -> list[list[MemoryRecord]]:
    return [
        [
            MemoryRecord(TOPIC, p, offset, None, orjson.dumps(event))
            for offset, event in enumerate(events)
        ]
        for p, events in enumerate(partitions)
    ]


_BLOBS = {b"d": False, b"m": False, b"a": False, b"dx": True, b"mx": True, b"ax": True}
"""The `*` slice's dense blob families: latest dates (True) or counters."""


def _family(name: bytes) -> bytes:
    return name.split(b"}:", 1)[1].split(b":")[0] if b"}:" in name else b""


def _cells(name: bytes, value: bytes) -> tuple[int, ...]:
    """A `*` blob's cells, trailing zeros dropped (BITFIELD extends a blob up to the highest
    slot ever written, which can be a cell that went back to 0)."""
    cells = (codec.latest_cells if _BLOBS[_family(name)] else codec.counter_cells)(value)
    nonzero = np.flatnonzero(cells)
    return tuple(cells[: nonzero[-1] + 1 if len(nonzero) else 0].tolist())


def _strings(held: dict[bytes, Any]) -> None:
    """Each `fl` + `ft` pair as `codec.compact(fl, ft)` under the `fl` name; `*` blobs as cells."""
    for name in [name for name in held if _family(name) == b"ft"]:
        base = name.replace(b"}:ft:", b"}:fl:", 1)
        held[base] = codec.compact(held.get(base), held.pop(name))
    for name, value in held.items():
        if _family(name) in _BLOBS:
            held[name] = _cells(name, value)


def _keys(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    held: dict[bytes, Any] = {}
    for key in client.scan_iter(match=f"{prefix}:*"):
        name = key[len(prefix) + 1 :]
        kind = client.type(key)
        if name.endswith((b":id", b":ready", b":fresh")):  # a random token; the runners'
            continue  # readiness (the bulk's targets: test_an_interrupted_bulk_is_abandoned...)
        if kind == b"string":
            held[name] = cast(bytes, client.get(key))
        elif kind == b"hash":
            fields = client.hgetall(key)
            if name.endswith(b":meta"):
                fields.pop(b"profiles", None)
            held[name] = fields
        else:
            held[name] = client.smembers(key)
    _strings(held)
    return held


def _empty(value: Any) -> Any:
    return type(value)()


def assert_same_projection(client: redis.Redis, one: str, other: str) -> None:
    left, right = _keys(client, one), _keys(client, other)
    for name in sorted(set(left) | set(right)):
        a = left.get(name)
        b = right.get(name)
        a = _empty(b) if a is None else a
        b = _empty(a) if b is None else b
        assert a == b, name


def _by_employee(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key's cells by (employee id, kind), through the tenant's own `ix`: comparable
    between projections whose employee indexes were assigned in different orders."""
    held = _keys(client, prefix)
    ids: dict[bytes, dict[int, int]] = {}
    for name, value in held.items():
        if name.endswith(b":ix"):
            tenant = name[: -len(b":ix")]
            ids[tenant] = {int(at): int(e) for e, at in value.items() if e != b"#"}
    out: dict[bytes, Any] = {}
    for name, value in held.items():
        tenant = name.split(b"}")[0] + b"}"
        family = _family(name)
        employee = ids.get(tenant, {})
        if family in _BLOBS:
            width = codec.MAX_SLOTS if _BLOBS[family] else KINDS
            out[name] = {(employee[n // width], n % width): c for n, c in enumerate(value) if c}
        elif family == b"fl":
            days, slots, values = codec.log_records(value)
            out[name] = {
                (day, employee[slot // KINDS], slot % KINDS): v
                for day, slot, v in zip(days.tolist(), slots.tolist(), values.tolist(), strict=True)
            }
        elif family != b"ix":
            out[name] = value
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bulk_equals_incremental_through_the_employee_indexes_without_seeding(
    data: st.DataObject,
) -> None:
    partitions = data.draw(deliveries(data.draw(event_lists())))
    records = _records(partitions)
    polls = cast(list[list[MemoryRecord]], data.draw(poll_batches(cast(Any, records))))
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    source = MemorySource(polls, partition_count=len(partitions))
    ProjectorRunner(config("inc"), client, source=source).run(until_caught_up=True)
    flat = [record for partition in records for record in partition]
    layout = current_layout(client, "blk")
    assert bulk.build(client, layout, MemoryLog(flat), LocalCalendar(SHANGHAI), TOPIC)
    left, right = _by_employee(client, "inc"), _by_employee(client, "blk")
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        a = _empty(b) if a is None else a
        b = _empty(a) if b is None else b
        assert a == b, name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bulk_and_incremental_projections_are_identical(data: st.DataObject) -> None:
    events = data.draw(event_lists())
    partitions = data.draw(deliveries(events))
    records = _records(partitions)
    polls = cast(list[list[MemoryRecord]], data.draw(poll_batches(cast(Any, records))))
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    flat = [record for partition in records for record in partition]
    log = MemoryLog(flat)
    gathered = bulk.gather(log, log.end_offsets(), threading.Event())
    assert gathered is not None
    incremental = current_layout(client, "inc")
    for tenant, positions in bulk.employee_indexes(gathered).items():
        mapping: dict[Any, Any] = {str(e): at for e, at in positions.items()}
        client.hset(incremental.employee_index(tenant), mapping={**mapping, "#": len(positions)})
    source = MemorySource(polls, partition_count=len(partitions))
    ProjectorRunner(config("inc"), client, source=source).run(until_caught_up=True)
    layout = current_layout(client, "blk")
    result = bulk.build(client, layout, log, LocalCalendar(SHANGHAI), TOPIC)
    assert result is not None
    assert_same_projection(client, "inc", "blk")


def test_an_interrupted_bulk_is_abandoned_never_resumed() -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    records = [MemoryRecord(TOPIC, 0, 0, None, orjson.dumps(_ADDED))]
    current_layout(client, "p")
    target, _ = rebuild._target(client, "p", REBUILD)
    stopped = threading.Event()
    stopped.set()
    assert (
        bulk.build(client, target, MemoryLog(records), LocalCalendar(SHANGHAI), TOPIC, stopped)
        is None
    )
    assert written_format(client, target) == bulk.BUILDING
    assert not client.exists(target.offsets(TOPIC))
    again, resumed = rebuild._target(client, "p", REBUILD)
    assert not resumed and again.version > target.version
    assert not list(client.scan_iter(match=target.every_key))
    result = bulk.build(client, again, MemoryLog(records), LocalCalendar(SHANGHAI), TOPIC)
    assert result is not None and result.ends == {0: 1}
    assert written_format(client, again) == PROJECTION_FORMAT
    assert client.hgetall(again.offsets(TOPIC)) == {b"0": b"1"}
    assert client.hgetall(again.fresh_key) == {b"target:0": b"1"}  # completeness counts from E


_ADDED = {
    "event_id": "e1",
    "type": "customer-added",
    "tenant_id": 1,
    "occurred_at": 1_700_000_000,
    "employee_id": 3,
    "customer_id": 9,
    "industry_id": 1,
    "source_id": None,
    "progress_id": None,
    "tag_ids": [],
}
