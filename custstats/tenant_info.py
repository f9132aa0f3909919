"""What is stored about tenants: operator config and projected counts, read for the CLI.

`tenant show` and `status` both list tenants; this is the service they share,
read-only and a few pipelined round trips for any number of tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from projector import control
from projector.control import (
    CONFIG_API_KEY,
    CONFIG_OPPORTUNITY,
    META_DUPLICATES,
    META_EVENTS,
    META_OPPORTUNITY,
)
from projector.layout import ControlLayout, Layout
from projector.tenant_config import ConfigKeys

PIPELINE_CHUNK = 500


def current_version(client: redis.Redis, prefix: str) -> Layout | None:
    """The version the API answers from, with tenants rebuilt on their own; read only (status
    must not create one)."""
    stored: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    return control.live_layout(prefix, stored)


@dataclass(frozen=True, slots=True)
class TenantInfo:
    tenant_id: int
    registered: bool
    projected: bool
    events: int
    duplicates: int
    employees: int
    opportunity_mode: control.OpportunityMode
    opportunity_seen: bool
    api_key: bool
    version: int | None
    """The version holding this tenant's keys (its own after `rebuild --tenant`)."""
    settings_restored: bool = True
    """False while the operator settings are being restored from `<topic>.config`."""

    @property
    def known(self) -> bool:
        return self.registered or self.projected

    @property
    def opportunity_on(self) -> bool:
        return control.opportunity_on(self.opportunity_mode, self.opportunity_seen)

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "known": self.known,
            "registered": self.registered,
            "projected": self.projected,
            "events": self.events,
            "duplicates": self.duplicates,
            "employees": self.employees,
            "opportunity": {"mode": self.opportunity_mode, "effective": self.opportunity_on},
            "api_key": self.api_key,
            "version": self.version,
            "settings_restored": self.settings_restored,
        }


def _int(raw: bytes | None) -> int:
    return 0 if raw is None else int(raw)


def read_tenants(
    client: redis.Redis, prefix: str, layout: Layout | None, tenant_ids: Sequence[int]
) -> list[TenantInfo]:
    """What is stored about each tenant, a few pipelined round trips for any number of them."""
    keys = ControlLayout(prefix)
    restored = settings_restored(client, prefix)
    found: list[TenantInfo] = []
    for start in range(0, len(tenant_ids), PIPELINE_CHUNK):
        chunk = tenant_ids[start : start + PIPELINE_CHUNK]
        with client.pipeline(transaction=False) as pipe:
            for tenant in chunk:
                pipe.hmget(keys.tenant_config(tenant), [CONFIG_OPPORTUNITY, CONFIG_API_KEY])
                pipe.sismember(keys.registered_tenants, str(tenant))
                if layout is not None:
                    pipe.sismember(layout.tenants, str(tenant))
                    pipe.hmget(
                        layout.meta(tenant), [META_EVENTS, META_DUPLICATES, META_OPPORTUNITY]
                    )
                    pipe.hlen(layout.employee_index(tenant))
                    pipe.hexists(layout.employee_index(tenant), "#")
            replies = iter(pipe.execute())
        for tenant in chunk:
            (mode_raw, key_raw), registered = next(replies), next(replies)
            projected, events, duplicates, seen, employees = False, 0, 0, False, 0
            if layout is not None:
                projected = bool(next(replies))
                events_raw, duplicates_raw, seen_raw = next(replies)
                fields, counter = int(next(replies)), bool(next(replies))
                events, duplicates = _int(events_raw), _int(duplicates_raw)
                seen = seen_raw == b"1"
                employees = fields - counter
            found.append(
                TenantInfo(
                    tenant_id=tenant,
                    registered=bool(registered),
                    projected=projected,
                    events=events,
                    duplicates=duplicates,
                    employees=employees,
                    opportunity_mode=control.opportunity_mode(mode_raw),
                    opportunity_seen=seen,
                    api_key=key_raw is not None,
                    version=None if layout is None else layout.version_of(tenant),
                    settings_restored=restored,
                )
            )
    return found


def settings_restored(client: redis.Redis, prefix: str) -> bool:
    """Whether the operator settings were restored from `<topic>.config` (the marker the
    projector sets once it read the topic to its end; absent after a Redis loss)."""
    return bool(client.exists(ConfigKeys(prefix).restored))


def tenant_rebuild_refusal(client: redis.Redis, prefix: str, tenant: int) -> str | None:
    """Why `rebuild --tenant` would have nothing to do, or None: a tenant none of whose events
    was projected would replay the whole topic to apply nothing."""
    layout = current_version(client, prefix)
    if layout is not None:
        (info,) = read_tenants(client, prefix, layout, [tenant])
        if info.projected or info.events:
            return None
    return (
        f"tenant {tenant} has no projected events: nothing to rebuild "
        "(publish its events first; `custstats status` lists the tenants)"
    )


def all_tenant_ids(client: redis.Redis, prefix: str, layout: Layout | None) -> list[int]:
    """Registered tenants and tenants with projected events, ascending."""
    keys = [ControlLayout(prefix).registered_tenants]
    if layout is not None:
        keys.append(layout.tenants)
    ids: set[int] = set()
    for key in keys:
        ids.update(int(member) for member in client.sscan_iter(key, count=1000))
    return sorted(ids)
