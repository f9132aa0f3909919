"""The Redis adapter of `projector.tenant_config`: apply a batch of config records atomically.

Each batch is one optimistic transaction (WATCH the keys it reads, MULTI/EXEC the
writes, retry on a concurrent change): the tenants' settings and the partition's
next offset change together, so a crash or a second projector never leaves one
without the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from events.tenant_config import TenantConfig
from projector.tenant_config import (
    ConfigKeys,
    Position,
    Stored,
    all_applied,
    apply_config,
    from_redis,
)

MAX_ATTEMPTS = 20


class ConfigStoreError(Exception):
    """Another writer kept changing the settings while a batch was being applied."""


@dataclass(frozen=True, slots=True)
class Applied:
    applied: int = 0
    stale: int = 0
    lost: bool = False
    """The stored position went back or vanished (Redis lost its state): nothing was written;
    the caller restarts its restore from the stored positions."""


class ConfigStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = ConfigKeys(prefix)

    def positions(self) -> dict[int, int]:
        raw: dict[bytes, bytes] = self.client.hgetall(self.keys.positions)  # type: ignore[assignment]
        return {int(partition): int(offset) for partition, offset in raw.items()}

    def restored(self) -> bool:
        return bool(self.client.exists(self.keys.restored))

    def read(self, tenant_id: int) -> Stored:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.sismember(self.keys.registered, str(tenant_id))
            pipe.hgetall(self.keys.tenant(tenant_id))
            registered, config = pipe.execute()
        return from_redis(bool(registered), config)

    def apply(
        self,
        records: Sequence[tuple[Position, TenantConfig]],
        advance: Mapping[int, tuple[int | None, int]] | None = None,
    ) -> Applied:
        """Apply records (in offset order) and, with `advance` (partition -> (expected next
        offset or None, new next offset)), move the partitions' positions in the same
        transaction. Without `advance` (the CLI's direct write) positions are left alone."""
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._attempt(records, advance or {})
            except redis.WatchError:
                continue
        raise ConfigStoreError(f"settings kept changing during {MAX_ATTEMPTS} attempts")

    def _attempt(
        self,
        records: Sequence[tuple[Position, TenantConfig]],
        advance: Mapping[int, tuple[int | None, int]],
    ) -> Applied:
        tenants = sorted({record.tenant_id for _, record in records})
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(self.keys.positions, *(self.keys.tenant(t) for t in tenants))  # type: ignore[no-untyped-call]
            stored_positions = {
                int(p): int(o) for p, o in pipe.hgetall(self.keys.positions).items()
            }
            for partition, (expected, _) in advance.items():
                if expected is not None and stored_positions.get(partition, -1) < expected:
                    return Applied(lost=True)
            state = {t: self._read_watched(pipe, t) for t in tenants}
            applied = stale = 0
            for at, record in records:
                new = apply_config(state[record.tenant_id], record, at)
                if new is None:
                    stale += 1
                else:
                    state[record.tenant_id], applied = new, applied + 1
            pipe.multi()
            for tenant in tenants:
                self._write(pipe, tenant, state[tenant])
            for partition, (_, next_offset) in advance.items():
                if next_offset > stored_positions.get(partition, -1):
                    pipe.hset(self.keys.positions, str(partition), str(next_offset))
            pipe.execute()
        return Applied(applied=applied, stale=stale)

    def _read_watched(self, pipe: redis.client.Pipeline, tenant: int) -> Stored:
        registered = pipe.sismember(self.keys.registered, str(tenant))
        config = pipe.hgetall(self.keys.tenant(tenant))
        return from_redis(bool(registered), config)  # type: ignore[arg-type]

    def _write(self, pipe: redis.client.Pipeline, tenant: int, stored: Stored) -> None:
        key = self.keys.tenant(tenant)
        pipe.delete(key)
        if stored.config:
            pipe.hset(key, mapping={k: v for k, v in stored.config.items()})
        if stored.registered:
            pipe.sadd(self.keys.registered, str(tenant))
        else:
            pipe.srem(self.keys.registered, str(tenant))

    def mark_restored(self, ends: Mapping[int, int]) -> bool:
        """Set the marker if the stored positions reach `ends`; whether it is set now."""
        for _ in range(MAX_ATTEMPTS):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self.keys.positions)  # type: ignore[no-untyped-call]
                    raw = pipe.hgetall(self.keys.positions)
                    positions = {int(p): int(o) for p, o in raw.items()}
                    if not all_applied(positions, ends):
                        return False
                    pipe.multi()
                    ends_json = json.dumps({str(p): o for p, o in sorted(ends.items())})
                    pipe.set(self.keys.restored, ends_json)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise ConfigStoreError(f"positions kept changing during {MAX_ATTEMPTS} attempts")
