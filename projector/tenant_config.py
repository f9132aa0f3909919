"""Operator settings projected from `<topic>.config`: the pure rules, no I/O.

What Redis holds about a tenant's settings (`ControlLayout`): membership of the
registered-tenants set, and the config hash `opportunity` (absent = auto),
`api_key` (SHA-256 hex, absent = open). A hash written from a record also holds
the record's position (`config_partition`, `config_offset`), so applying is a
fold where the last record by topic offset wins: a stale write (a replay of
records already applied, or `custstats tenant` writing directly while the
projector applies a newer record) never overwrites a newer one.

Deployment-wide, next to them: the next offset to read per partition (written in
the same transaction as the settings it covers) and the "config restored" marker,
set only when every partition was applied up to the end offsets captured when a
restore began. Both vanish with the rest of Redis's state, so an emptied Redis
reads as "not restored" until the replay reached the end again; `protection`
turns that into what the API may do.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from events.tenant_config import TenantConfig
from projector.layout import ControlLayout

OPPORTUNITY = "opportunity"
API_KEY = "api_key"
PARTITION = "config_partition"
OFFSET = "config_offset"


@dataclass(frozen=True, slots=True)
class ConfigKeys:
    """Redis keys of the settings; the two deployment-wide ones are new (to move to layout)."""

    prefix: str

    @property
    def registered(self) -> str:
        return ControlLayout(self.prefix).registered_tenants

    def tenant(self, tenant_id: int) -> str:
        return ControlLayout(self.prefix).tenant_config(tenant_id)

    @property
    def positions(self) -> str:
        """Hash partition -> next offset of `<topic>.config` applied to Redis."""
        return f"{self.prefix}:cfg:positions"

    @property
    def restored(self) -> str:
        """String, present once every partition was applied up to a restore's end offsets."""
        return f"{self.prefix}:cfg:restored"

    @property
    def tenant_pattern(self) -> str:
        """SCAN pattern of the config hashes (the prefix escaped for glob)."""
        escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix)
        return f"{escaped}:cfg:{{*}}"


@dataclass(frozen=True, slots=True)
class Stored:
    """What Redis holds about one tenant's settings."""

    registered: bool
    config: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Position:
    partition: int
    offset: int


def position_of(config: Mapping[str, str]) -> Position | None:
    """The record a config hash was written from; None for a hash written before the topic."""
    partition, offset = config.get(PARTITION), config.get(OFFSET)
    if partition is None or offset is None:
        return None
    return Position(int(partition), int(offset))


def is_stale(stored: Stored, at: Position) -> bool:
    """A record at `at` is older than (or the same as) what the tenant's hash was written from.

    Positions compare within one partition: a tenant's records share the partition of its
    key. A hash from another partition (the topic was re-created differently) or from
    before the topic yields to the record."""
    current = position_of(stored.config)
    return current is not None and current.partition == at.partition and current.offset >= at.offset


def apply_config(stored: Stored, record: TenantConfig, at: Position) -> Stored | None:
    """The tenant's state after the record at `at`; None when the record is stale."""
    if is_stale(stored, at):
        return None
    config = {PARTITION: str(at.partition), OFFSET: str(at.offset)}
    if record.opportunity != "auto":
        config[OPPORTUNITY] = record.opportunity  # absent = auto, as the API reads it
    if record.api_key_sha256 is not None:
        config[API_KEY] = record.api_key_sha256
    return Stored(registered=record.registered, config=config)


def all_applied(positions: Mapping[int, int], ends: Mapping[int, int]) -> bool:
    """Every partition's next offset has reached the end captured at the restore's start."""
    return all(positions.get(partition, 0) >= end for partition, end in ends.items())


class Protection(enum.Enum):
    OPEN = "open"
    """Serve without a key."""
    KEYED = "keyed"
    """Serve only with the key whose digest is the config's `api_key`."""
    RESTORING = "restoring"
    """Settings may not be back yet: answer 503 "being restored", never the statistics."""


def protection(restored: bool, config: Mapping[bytes, bytes]) -> Protection:
    """What the API may do for a tenant, from the marker and the tenant's config hash.

    A hash with a key is enforced at once; any other hash is this Redis's own record of the
    tenant (open). No hash at all means "open" only once the restore is complete: before
    that, the tenant's key may simply not have been applied yet."""
    if config.get(API_KEY.encode()) is not None:
        return Protection.KEYED
    if config or restored:
        return Protection.OPEN
    return Protection.RESTORING


def from_redis(registered: bool, config: Mapping[bytes, bytes]) -> Stored:
    return Stored(registered, {k.decode(): v.decode() for k, v in config.items()})
