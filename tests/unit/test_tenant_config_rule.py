"""The pure rules of projected operator settings: last record by offset wins; protection."""

from __future__ import annotations

import pytest

from events.tenant_config import TenantConfig
from projector.config_writer import Change, changed
from projector.tenant_config import (
    ConfigKeys,
    Position,
    Protection,
    Stored,
    all_applied,
    apply_config,
    is_stale,
    protection,
)

DIGEST = "b" * 64
EMPTY = Stored(registered=False, config={})
LEGACY = Stored(registered=True, config={"api_key": DIGEST})


def record(registered: bool = True, mode: str = "auto", key: str | None = None) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "schema_version": 1,
            "tenant_id": 7,
            "registered": registered,
            "opportunity": mode,
            "api_key_sha256": key,
            "updated_at": "2026-12-01T16:05:00Z",
        }
    )


def at(offset: int, partition: int = 0) -> Stored:
    return Stored(True, {"config_partition": str(partition), "config_offset": str(offset)})


@pytest.mark.parametrize(
    ("stored", "position", "stale"),
    [
        (EMPTY, Position(0, 0), False),
        (LEGACY, Position(0, 0), False),  # written before the topic: the record wins
        (at(5), Position(0, 6), False),
        (at(5), Position(0, 5), True),  # the same record again (replay, duplicate)
        (at(5), Position(0, 4), True),  # an older record (the CLI's direct write, late)
        (at(5), Position(1, 0), False),  # another partition: the topic was re-created
    ],
)
def test_stale(stored: Stored, position: Position, stale: bool) -> None:
    assert is_stale(stored, position) is stale
    assert (apply_config(stored, record(), position) is None) is stale


@pytest.mark.parametrize(
    ("rec", "registered", "config"),
    [
        (record(), True, {}),
        (record(registered=False), False, {}),
        (record(mode="on"), True, {"opportunity": "on"}),
        (record(mode="off"), True, {"opportunity": "off"}),
        (record(key=DIGEST), True, {"api_key": DIGEST}),
    ],
)
def test_apply_states_the_whole_record(
    rec: TenantConfig, registered: bool, config: dict[str, str]
) -> None:
    before = Stored(True, {"opportunity": "off", "api_key": "c" * 64})
    after = apply_config(before, rec, Position(0, 9))
    assert after == Stored(registered, config | {"config_partition": "0", "config_offset": "9"})


def test_fold_in_any_order_keeps_the_last_by_offset() -> None:
    records = [(Position(0, 3), record(key=DIGEST)), (Position(0, 8), record(mode="on"))]
    for order in (records, records[::-1], records + records):
        state = EMPTY
        for position, rec in order:
            state = apply_config(state, rec, position) or state
        assert state.config == {"opportunity": "on", "config_partition": "0", "config_offset": "8"}


@pytest.mark.parametrize(
    ("positions", "ends", "done"),
    [
        ({}, {}, True),
        ({}, {0: 0}, True),
        ({}, {0: 1}, False),
        ({0: 3}, {0: 3}, True),
        ({0: 4}, {0: 3}, True),
        ({0: 3, 1: 1}, {0: 3, 1: 2}, False),
    ],
)
def test_all_applied(positions: dict[int, int], ends: dict[int, int], done: bool) -> None:
    assert all_applied(positions, ends) is done


@pytest.mark.parametrize(
    ("restored", "config", "expected"),
    [
        (False, {}, Protection.RESTORING),
        (True, {}, Protection.OPEN),
        (False, {b"api_key": DIGEST.encode()}, Protection.KEYED),
        (True, {b"api_key": DIGEST.encode()}, Protection.KEYED),
        (False, {b"config_offset": b"3", b"config_partition": b"0"}, Protection.OPEN),
        (False, {b"opportunity": b"on"}, Protection.OPEN),
    ],
)
def test_protection(restored: bool, config: dict[bytes, bytes], expected: Protection) -> None:
    assert protection(restored, config) is expected


def test_keys() -> None:
    keys = ConfigKeys("p*x")
    assert keys.registered == "p*x:cfg:tenants"
    assert keys.tenant(7) == "p*x:cfg:{7}"
    assert keys.positions == "p*x:cfg:positions"
    assert keys.restored == "p*x:cfg:restored"
    assert keys.tenant_pattern == "p\\*x:cfg:{*}"


@pytest.mark.parametrize(
    ("current", "change", "expected"),
    [
        (None, Change(registered=True), (True, "auto", None)),
        (None, Change(opportunity="on"), (False, "on", None)),
        (record(key=DIGEST), Change(opportunity="off"), (True, "off", DIGEST)),
        (record(key=DIGEST), Change(api_key_sha256=None), (True, "auto", None)),
        (record(mode="on"), Change(api_key_sha256=DIGEST), (True, "on", DIGEST)),
        (record(mode="on", key=DIGEST), Change(), (True, "on", DIGEST)),
    ],
)
def test_a_change_becomes_the_next_whole_record(
    current: TenantConfig | None, change: Change, expected: tuple[bool, str, str | None]
) -> None:
    new = changed(current, 7, change)
    assert (new.registered, new.opportunity, new.api_key_sha256) == expected
    assert new.tenant_id == 7
