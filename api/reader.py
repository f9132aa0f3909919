"""The API's Redis adapter: every read a statistics request makes, batched per round trip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from api.errors import ProjectionUnreadable
from projector import control as rules
from projector.layout import ControlLayout, Layout
from projector.versions import PROJECTION_FORMAT


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """The operator's config of a known tenant, as the endpoint applies it."""

    opportunity: bool
    api_key_digest: bytes | None


class ProjectionReader:
    """Thin async adapter: Redis replies in, plain values out (the rules: projector.control)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.control = ControlLayout(prefix)
        self.prefix = prefix
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

    async def tenant(self, layout: Layout | None, tenant_id: int) -> TenantConfig | None:
        """What decides how a known tenant is answered; None when the tenant is unknown."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.control.tenant_config(tenant_id))
            pipe.sismember(self.control.registered_tenants, str(tenant_id))
            if layout is not None:
                pipe.sismember(layout.tenants, str(tenant_id))
                pipe.hgetall(layout.meta(tenant_id))
            replies = await pipe.execute()
        config: dict[bytes, bytes] = replies[0]
        known = bool(replies[1]) or (layout is not None and bool(replies[2]))
        if not known:
            return None
        seen = layout is not None and replies[3].get(rules.META_OPPORTUNITY.encode()) == b"1"
        return TenantConfig(
            opportunity=rules.opportunity_on(
                rules.opportunity_mode(config.get(rules.CONFIG_OPPORTUNITY.encode())), seen
            ),
            api_key_digest=config.get(rules.CONFIG_API_KEY.encode()),
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

    async def readiness(self, layout: Layout) -> rules.Readiness:
        """Ready once every partition of the topic has been caught up with at least once."""
        marks: dict[bytes, bytes] = await self.client.hgetall(layout.ready_key)  # type: ignore[assignment]
        return rules.readiness(marks)
