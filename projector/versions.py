"""Projection versions: which one answers, which one is being rebuilt, and their clean-up.

A version is a key namespace (`<prefix>:v<N>:...`). The control hash
`<prefix>:control` says which version is `current` (the API answers from it,
the live projector writes it) and which one a `rebuild` is filling. Every
projector write checks the field it writes for, so flipping `current` is one
atomic HSET that fences every writer of the old version at its next batch.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import redis

from projector import control as rules
from projector.control import CURRENT, EPOCH, REBUILD, TENANT_PREFIX, TENANT_REBUILD_PREFIX
from projector.errors import FormatMismatch
from projector.layout import ControlLayout, Layout

PROJECTION_FORMAT = 3
"""Bump whenever key layout or state encoding changes: older versions get rebuilt."""


def written_format(client: redis.Redis, layout: Layout) -> int | None:
    raw = client.get(layout.format_key)
    return None if raw is None else int(raw)


def current_layout(client: redis.Redis, prefix: str) -> Layout:
    """The current version (version 1 is created on first use); FormatMismatch if unreadable."""
    control = ControlLayout(prefix)
    if client.hsetnx(control.key, CURRENT, 1):
        client.hsetnx(control.key, "next", 1)
    version = int(client.hget(control.key, CURRENT) or 1)
    layout = Layout(prefix, version)
    client.set(layout.format_key, PROJECTION_FORMAT, nx=True)
    client.set(layout.instance_key, secrets.token_hex(8), nx=True)
    written = written_format(client, layout)
    if written != PROJECTION_FORMAT:
        raise FormatMismatch(
            f"projection v{version} has format {written}, this code writes {PROJECTION_FORMAT}"
        )
    return layout


def live_layout(client: redis.Redis, prefix: str) -> tuple[Layout, bytes | None]:
    """The current layout with its tenant overrides, and the epoch they were read at."""
    base = current_layout(client, prefix)
    stored: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    layout = rules.live_layout(prefix, stored)
    if layout is None or layout.version != base.version:  # the control changed in between
        layout = Layout(prefix, base.version, rules.overrides_of(stored))
    return layout, stored.get(EPOCH.encode())


def field_version(client: redis.Redis, prefix: str, field: str) -> int | None:
    raw = client.hget(ControlLayout(prefix).key, field)
    return None if raw is None else int(raw)


def allocate_version(client: redis.Redis, prefix: str) -> Layout:
    """A fresh, empty version number, never reused."""
    control = ControlLayout(prefix)
    current = int(client.hget(control.key, CURRENT) or 0)
    client.hsetnx(control.key, "next", current)
    version = int(client.hincrby(control.key, "next", 1))
    while version <= current:
        version = int(client.hincrby(control.key, "next", 1))
    layout = Layout(prefix, version)
    client.set(layout.format_key, PROJECTION_FORMAT)
    client.set(layout.instance_key, secrets.token_hex(8))
    return layout


SWITCH_SCRIPT = """
-- KEYS: control, new offsets, old offsets
-- ARGV: new version, expected current version, then the control's field names:
--       current, rebuild, epoch, and the prefix of the per-tenant version fields
local current, rebuild, epoch, tenant = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HGET', KEYS[1], rebuild) ~= ARGV[1] then return {0, 'not the rebuild'} end
if redis.call('HGET', KEYS[1], current) ~= ARGV[2] then return {0, 'current moved'} end
local old = redis.call('HGETALL', KEYS[3])
for i = 1, #old, 2 do
  local mine = tonumber(redis.call('HGET', KEYS[2], old[i]) or '-1')
  if mine < tonumber(old[i + 1]) then return {0, 'behind on partition ' .. old[i]} end
end
redis.call('HSET', KEYS[1], current, ARGV[1])
redis.call('HDEL', KEYS[1], rebuild)
local fields = redis.call('HKEYS', KEYS[1])
for _, name in ipairs(fields) do
  if string.sub(name, 1, #tenant) == tenant then redis.call('HDEL', KEYS[1], name) end
end
redis.call('HINCRBY', KEYS[1], epoch, 1)
return {1, ARGV[2]}
"""

TENANT_SWITCH_SCRIPT = """
-- KEYS: control, new offsets, live offsets
-- ARGV: new version, then the control's field names: the tenant's rebuild field, the
--       tenant's version field, current, epoch
local field, tenant, current, epoch = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HGET', KEYS[1], field) ~= ARGV[1] then return {0, 'not the rebuild'} end
local live = redis.call('HGETALL', KEYS[3])
for i = 1, #live, 2 do
  local mine = tonumber(redis.call('HGET', KEYS[2], live[i]) or '-1')
  if mine < tonumber(live[i + 1]) then return {0, 'behind on partition ' .. live[i]} end
end
local old = redis.call('HGET', KEYS[1], tenant)
if not old then old = redis.call('HGET', KEYS[1], current) end
redis.call('HSET', KEYS[1], tenant, ARGV[1])
redis.call('HDEL', KEYS[1], field)
redis.call('HINCRBY', KEYS[1], epoch, 1)
return {1, old}
"""


def switch_tenant(
    client: redis.Redis, new: Layout, live: Layout, tenant_id: int, topic: str
) -> tuple[bool, str]:
    """Point `tenant_id` at `new` if it has applied at least what the live version has."""
    ok, detail = client.eval(
        TENANT_SWITCH_SCRIPT,
        3,
        ControlLayout(new.prefix).key,
        new.offsets(topic),
        live.offsets(topic),
        str(new.version),
        rules.tenant_rebuild_field(tenant_id),
        rules.tenant_field(tenant_id),
        CURRENT,
        EPOCH,
    )
    text = detail.decode() if isinstance(detail, bytes) else str(detail)
    return int(ok) == 1, text


def switch_current(client: redis.Redis, new: Layout, old: Layout, topic: str) -> tuple[bool, str]:
    """Make `new` current if it has applied at least what `old` has, on every partition."""
    ok, detail = client.eval(
        SWITCH_SCRIPT,
        3,
        ControlLayout(new.prefix).key,
        new.offsets(topic),
        old.offsets(topic),
        str(new.version),
        str(old.version),
        CURRENT,
        REBUILD,
        EPOCH,
        TENANT_PREFIX,
    )
    text = detail.decode() if isinstance(detail, bytes) else str(detail)
    return int(ok) == 1, text


def delete_version(
    client: redis.Redis, layout: Layout, on_progress: Callable[[int], None] | None = None
) -> int:
    """Remove a version's keys with SCAN + UNLINK in batches (never KEYS); returns the count."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=layout.every_key, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += int(client.unlink(*batch))
            batch.clear()
            if on_progress is not None:
                on_progress(deleted)
            time.sleep(0)  # let other clients in between batches
    if batch:
        deleted += int(client.unlink(*batch))
    if on_progress is not None:
        on_progress(deleted)
    return deleted


def stored_versions(client: redis.Redis, prefix: str) -> set[int]:
    """Every version that still has a format key."""
    control = ControlLayout(prefix)
    found = set()
    for key in client.scan_iter(match=control.format_keys, count=1000):
        version = control.version_of_format_key(key)
        if version is not None:
            found.add(version)
    return found


def versions_in_use(client: redis.Redis, prefix: str) -> set[int]:
    """Current, being rebuilt, and every tenant's own version."""
    stored: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    used = set()
    for name, value in stored.items():
        if name in (CURRENT.encode(), REBUILD.encode()) or name.startswith(
            (TENANT_PREFIX.encode(), TENANT_REBUILD_PREFIX.encode())
        ):
            used.add(int(value))
    return used


def abandoned_versions(client: redis.Redis, prefix: str) -> set[int]:
    """Versions nothing points at: left by an interrupted switch or clean-up."""
    return stored_versions(client, prefix) - versions_in_use(client, prefix)


def delete_version_globals(client: redis.Redis, layout: Layout) -> int:
    """Remove a version's deployment-wide keys (offsets, readiness, ...) but not its tenants'
    keys or its format: what a tenant rebuild leaves behind once its tenant is switched."""
    tenant_keys = layout.tenant_keys_start.encode()
    keep = layout.format_key.encode()
    doomed = [
        key
        for key in client.scan_iter(match=layout.every_key, count=1000)
        if not key.startswith(tenant_keys) and key != keep
    ]
    return int(client.unlink(*doomed)) if doomed else 0


def delete_tenant_keys(client: redis.Redis, prefix: str, version: int, tenant_id: int) -> int:
    """Remove one tenant's keys of one version (SCAN + UNLINK in batches)."""
    deleted = 0
    batch: list[bytes] = []
    pattern = Layout(prefix, version).tenant_keys(tenant_id)
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted
