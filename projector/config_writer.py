"""The write path of `custstats tenant`: a change becomes the tenant's next whole record.

The current settings are read from the topic (not from Redis, which may have lost
them), after publishing what only Redis still holds (the one-time upgrade, a no-op
once done). The new record is published (acks=all), then applied to Redis directly
so the change shows at once even with no projector running; the projector applies
the same record later and finds it stale.

Two operators changing one tenant at the same instant: both read the same current
record and the later publish wins whole (the other change is lost, never mixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import redis
from kafka import KafkaConsumer, KafkaProducer

from events.tenant_config import SCHEMA_VERSION, TenantConfig, now_rfc3339
from projector.config_store import ConfigStore
from projector.config_topic import publish_tenant_config, read_config_topic
from projector.config_upgrade import publish_existing_settings
from projector.tenant_config import Position

KEEP: Literal["keep"] = "keep"


@dataclass(frozen=True, slots=True)
class Change:
    """What the operator asked for; None / KEEP = unchanged."""

    registered: bool | None = None
    opportunity: Literal["on", "off", "auto"] | None = None
    api_key_sha256: str | Literal["keep"] | None = KEEP
    """A digest to set, None to clear the key."""


def changed(current: TenantConfig | None, tenant: int, change: Change) -> TenantConfig:
    """The tenant's next whole record: the current one (defaults when none) with the change."""
    registered = current.registered if current is not None else False
    opportunity = current.opportunity if current is not None else "auto"
    digest = current.api_key_sha256 if current is not None else None
    return TenantConfig(
        schema_version=SCHEMA_VERSION,
        tenant_id=tenant,
        registered=registered if change.registered is None else change.registered,
        opportunity=opportunity if change.opportunity is None else change.opportunity,
        api_key_sha256=digest if change.api_key_sha256 == KEEP else change.api_key_sha256,
        updated_at=now_rfc3339(),
    )


def write_tenant_setting(
    client: redis.Redis,
    prefix: str,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    config_topic: str,
    tenant: int,
    change: Change,
) -> tuple[Position, TenantConfig]:
    """Publish the tenant's changed settings and apply them to Redis; the record written."""
    publish_existing_settings(client, prefix, producer, consumer, config_topic)
    latest = read_config_topic(consumer, config_topic).latest.get(tenant)
    record = changed(None if latest is None else latest[1], tenant, change)
    at = publish_tenant_config(producer, config_topic, record)
    ConfigStore(client, prefix).apply([(at, record)])
    return at, record
