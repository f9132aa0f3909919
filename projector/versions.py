"""Projection versions: which one answers, which one is being rebuilt, and their clean-up.

A version is a key namespace (`<prefix>:v<N>:...`). The control hash
`<prefix>:control` says which version is `current` (the API answers from it,
the live projector writes it) and which one a `rebuild` is filling. Every
projector write checks the field it writes for, so flipping `current` is one
atomic HSET that fences every writer of the old version at its next batch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import redis

from projector.layout import ControlLayout, Layout

PROJECTION_FORMAT = 1
"""Bump whenever key layout or state encoding changes: older versions get rebuilt."""

CURRENT = "current"
REBUILD = "rebuild"


class FormatMismatch(Exception):
    """The current projection was written by code with another layout."""


def format_key(layout: Layout) -> str:
    return f"{layout.root}:format"


def ready_key(layout: Layout) -> str:
    """Hash partition -> '1' once that partition was caught up; with `partitions` = count."""
    return f"{layout.root}:ready"


def written_format(client: redis.Redis, layout: Layout) -> int | None:
    raw = client.get(format_key(layout))
    return None if raw is None else int(raw)


def current_layout(client: redis.Redis, prefix: str) -> Layout:
    """The current version (version 1 is created on first use); FormatMismatch if unreadable."""
    control = ControlLayout(prefix)
    if client.hsetnx(control.key, CURRENT, 1):
        client.hsetnx(control.key, "next", 1)
    version = int(client.hget(control.key, CURRENT) or 1)
    layout = Layout(prefix, version)
    client.set(format_key(layout), PROJECTION_FORMAT, nx=True)
    written = written_format(client, layout)
    if written != PROJECTION_FORMAT:
        raise FormatMismatch(
            f"projection v{version} has format {written}, this code writes {PROJECTION_FORMAT}"
        )
    return layout


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
    client.set(format_key(layout), PROJECTION_FORMAT)
    return layout


SWITCH_SCRIPT = """
-- KEYS: control, new offsets, old offsets; ARGV: new version, expected current version
if redis.call('HGET', KEYS[1], 'rebuild') ~= ARGV[1] then return {0, 'not the rebuild'} end
if redis.call('HGET', KEYS[1], 'current') ~= ARGV[2] then return {0, 'current moved'} end
local old = redis.call('HGETALL', KEYS[3])
for i = 1, #old, 2 do
  local mine = tonumber(redis.call('HGET', KEYS[2], old[i]) or '-1')
  if mine < tonumber(old[i + 1]) then return {0, 'behind on partition ' .. old[i]} end
end
redis.call('HSET', KEYS[1], 'current', ARGV[1])
redis.call('HDEL', KEYS[1], 'rebuild')
return {1, ARGV[2]}
"""


def switch_current(client: redis.Redis, new: Layout, old: Layout, topic: str) -> tuple[bool, str]:
    """Make `new` current if it has applied at least what `old` has, on every partition."""
    control = ControlLayout(new.prefix)
    ok, detail = client.eval(
        SWITCH_SCRIPT,
        3,
        control.key,
        new.offsets(topic),
        old.offsets(topic),
        str(new.version),
        str(old.version),
    )
    text = detail.decode() if isinstance(detail, bytes) else str(detail)
    return int(ok) == 1, text


def _escape(pattern: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", pattern)


def delete_version(
    client: redis.Redis, layout: Layout, on_progress: Callable[[int], None] | None = None
) -> int:
    """Remove a version's keys with SCAN + UNLINK in batches (never KEYS); returns the count."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{_escape(layout.root)}:*", count=1000):
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
    found = set()
    pattern = re.compile(rb"^" + re.escape(prefix.encode()) + rb":v(\d+):format$")
    for key in client.scan_iter(match=f"{_escape(prefix)}:v*:format", count=1000):
        match = pattern.match(key)
        if match:
            found.add(int(match.group(1)))
    return found


def abandoned_versions(client: redis.Redis, prefix: str) -> set[int]:
    """Versions neither current nor being rebuilt: left by an interrupted switch or clean-up."""
    keep = {
        field_version(client, prefix, CURRENT),
        field_version(client, prefix, REBUILD),
    }
    return {version for version in stored_versions(client, prefix) if version not in keep}
