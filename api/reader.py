"""The API's Redis adapter: every read a statistics request makes, batched per round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from api.errors import ProjectionUnreadable
from projector import control as rules
from projector.layout import ControlLayout, Layout
from projector.tenant_config import ConfigKeys
from projector.versions import PROJECTION_FORMAT

_NOTHING_KNOWN = rules.Completeness(False, 0)


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """How complete and how fresh the version the API reads is, and whether the operator
    settings are back (SPEC §3, §4); read in the same round trip as the tenant's config."""

    completeness: rules.Completeness
    lags: Mapping[int, int]
    """Records not yet applied, per partition whose end offset a projector reported."""
    applied_at_ms: int | None
    """Unix ms of the last applied batch; None before any."""
    restored: bool
    """The operator settings marker (`ConfigKeys.restored`)."""

    @property
    def complete(self) -> bool:
        return self.completeness.complete

    @property
    def lag(self) -> int:
        return sum(self.lags.values())


def projection_status(
    restored: bytes | None,
    marks: Mapping[bytes, bytes],
    fresh: Mapping[bytes, bytes],
    offsets: Mapping[bytes, bytes],
) -> ProjectionStatus:
    """The replies of `ProjectionReader._queue_status` read through the rules."""
    freshness = rules.freshness(fresh)
    applied = {int(partition): int(offset) for partition, offset in offsets.items()}
    return ProjectionStatus(
        completeness=rules.completeness(marks, applied, freshness.targets),
        lags=rules.partition_lags(applied, freshness.ends),
        applied_at_ms=freshness.applied_at_ms,
        restored=restored is not None,
    )


@dataclass(frozen=True, slots=True)
class TenantView:
    """Everything the endpoint decides a request by, from one round trip."""

    known: bool
    """Registered by the operator or seen in the projection."""
    config: Mapping[bytes, bytes]
    """The tenant's config hash as stored (empty when there is none)."""
    opportunity: bool
    status: ProjectionStatus

    @property
    def api_key_digest(self) -> bytes | None:
        return self.config.get(rules.CONFIG_API_KEY.encode())


class ProjectionReader:
    """Thin async adapter: Redis replies in, plain values out (the rules: projector.control)."""

    def __init__(self, client: aioredis.Redis, prefix: str, topic: str = "customer-events") -> None:
        self.client = client
        self.control = ControlLayout(prefix)
        self.config_keys = ConfigKeys(prefix)
        self.prefix = prefix
        self.topic = topic
        self._formats: dict[int, int] = {}

    async def layout(self) -> Layout | None:
        """The projection the API answers from (with tenants rebuilt on their own); None before
        any projector ran."""
        stored: dict[bytes, bytes] = await self.client.hgetall(self.control.key)  # type: ignore[assignment]
        layout = rules.live_layout(self.prefix, stored)
        if layout is None:
            return None
        written = self._formats.get(layout.version)
        if written is None:
            raw = await self.client.get(layout.format_key)
            if raw is None:
                return layout
            written = self._formats[layout.version] = int(raw)
        if written != PROJECTION_FORMAT:
            raise ProjectionUnreadable(
                f"projection v{layout.version} has format {written}, this API reads "
                f"{PROJECTION_FORMAT}: a projector is rebuilding it"
            )
        return layout

    def _queue_status(self, pipe: Pipeline, layout: Layout | None) -> int:
        """Queue the reads of `projection_status`; returns how many replies they add."""
        pipe.get(self.config_keys.restored)
        if layout is None:
            return 1
        pipe.hgetall(layout.ready_key)
        pipe.hgetall(layout.fresh_key)
        pipe.hgetall(layout.offsets(self.topic))
        return 4

    @staticmethod
    def _status(replies: Sequence[Any]) -> ProjectionStatus:
        if len(replies) == 1:
            return ProjectionStatus(_NOTHING_KNOWN, {}, None, replies[0] is not None)
        return projection_status(*replies)

    async def status(self, layout: Layout | None) -> ProjectionStatus:
        """Completeness, lag, last apply and the settings marker (one round trip)."""
        async with self.client.pipeline(transaction=False) as pipe:
            self._queue_status(pipe, layout)
            replies = await pipe.execute()
        return self._status(replies)

    async def tenant(self, layout: Layout | None, tenant_id: int) -> TenantView:
        """What decides how the tenant is answered, with the projection's status."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.control.tenant_config(tenant_id))
            pipe.sismember(self.control.registered_tenants, str(tenant_id))
            if layout is not None:
                pipe.sismember(layout.tenants, str(tenant_id))
                pipe.hgetall(layout.meta(tenant_id))
            count = self._queue_status(pipe, layout)
            replies = await pipe.execute()
        config: dict[bytes, bytes] = replies[0]
        known = bool(replies[1]) or (layout is not None and bool(replies[2]))
        seen = layout is not None and replies[3].get(rules.META_OPPORTUNITY.encode()) == b"1"
        mode = rules.opportunity_mode(config.get(rules.CONFIG_OPPORTUNITY.encode()))
        return TenantView(
            known=known,
            config=config,
            opportunity=rules.opportunity_on(mode, seen),
            status=self._status(replies[-count:]),
        )

    async def tenant_days(self, layout: Layout, tenant_id: int) -> tuple[int, int] | None:
        """First and last local day with any event of the tenant."""
        first, last = await self.client.hmget(
            layout.meta(tenant_id), [rules.META_FIRST_DAY, rules.META_LAST_DAY]
        )
        return None if first is None or last is None else (int(first), int(last))

    async def staff_token(self, layout: Layout, tenant_id: int) -> tuple[Any, ...]:
        """Changes whenever the tenant's rows or profiles may have: the version's creation
        token, how many employees are named (a set that only grows), profile writes."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.get(layout.instance(tenant_id))
            pipe.scard(layout.named_employees(tenant_id))
            pipe.hget(layout.meta(tenant_id), rules.META_PROFILES)
            replies: list[Any] = await pipe.execute()
        return (layout.version_of(tenant_id), *replies)

    async def employees(
        self, layout: Layout, tenant_id: int
    ) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
        """(employee id -> dense index, employee id -> profile) of the tenant's named employees."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.smembers(layout.named_employees(tenant_id))
            pipe.hgetall(layout.employee_index(tenant_id))
            pipe.hgetall(layout.profiles(tenant_id))
            named, index, profiles = await pipe.execute()
        return {key: index[key] for key in named if key in index}, profiles

    async def blobs(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | None] = list(await self.client.mget(keys))  # type: ignore[arg-type]
        return values

    async def intersections(self, key_sets: Sequence[Sequence[str]]) -> list[set[bytes]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for keys in key_sets:
                pipe.sinter(list(keys))
            replies: list[set[bytes]] = await pipe.execute()
        return replies

    async def customer_states(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return await self.blobs(keys)

    async def ping(self) -> Any:
        return await self.client.ping()
