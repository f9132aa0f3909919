"""Role: which version a runner writes and the fences its writes check, live or rebuild."""

from __future__ import annotations

import fakeredis

from projector.control import CURRENT, EPOCH, REBUILD, tenant_rebuild_field
from projector.layout import Layout
from projector.role import Role


def test_the_live_role_writes_current_fenced_on_current_and_epoch() -> None:
    client = fakeredis.FakeRedis()
    role = Role.live("p")
    target = role.resolve(client, first=True)
    assert target is not None
    assert target.layout == Layout("p", 1)
    control = role.control.key
    assert target.fences == ((control, CURRENT, b"1"), (control, EPOCH, None))
    assert role.is_live


def test_a_rebuild_stops_once_the_control_no_longer_names_it() -> None:
    client = fakeredis.FakeRedis()
    role = Role.rebuilding(Layout("p", 4))
    assert not role.is_live
    assert role.fence_field == REBUILD
    first = role.resolve(client, first=True)
    assert first is not None and first.fences == ((role.control.key, REBUILD, b"4"),)
    assert role.resolve(client) is None
    client.hset(role.control.key, REBUILD, 4)
    assert role.resolve(client) == first


def test_a_tenant_rebuild_is_fenced_on_its_own_field() -> None:
    role = Role.rebuilding(Layout("p", 5), tenant=9)
    assert role.fence_field == tenant_rebuild_field(9)
