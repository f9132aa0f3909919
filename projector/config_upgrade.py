"""One-time upgrade: publish the operator settings that exist only in Redis to `<topic>.config`.

Before the config topic existed, settings lived only in Redis. This publishes one
record for every tenant that Redis knows settings of (registered, or a config hash)
and that has no record on the topic yet, then applies it to Redis with its position.
A second run finds the records and publishes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from events.tenant_config import MAX_TENANT_ID, SCHEMA_VERSION, TenantConfig, now_rfc3339
from projector.config_store import ConfigStore
from projector.config_topic import (
    TIMEOUT_S,
    ConfigTopicError,
    config_topic_of,
    ensure_config_topic,
    open_consumer,
    open_producer,
    publish_tenant_config,
    read_config_topic,
)
from projector.tenant_config import API_KEY, OPPORTUNITY, Stored, position_of

_DIGEST = re.compile(r"[0-9a-f]{64}")
_TENANT_IN_KEY = re.compile(rb":cfg:\{([0-9]+)\}$")


@dataclass
class Upgrade:
    published: list[int] = field(default_factory=list)
    already: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    """Tenants whose stored settings cannot be stated as a record (never published open)."""


def record_from(tenant: int, stored: Stored) -> TenantConfig | str:
    """The record stating what Redis holds, or why it cannot be one."""
    mode = stored.config.get(OPPORTUNITY, "auto")
    digest = stored.config.get(API_KEY)
    if digest is not None and _DIGEST.fullmatch(digest) is None:
        return "the stored API key is not a SHA-256 hex digest"
    return TenantConfig(
        schema_version=SCHEMA_VERSION,
        tenant_id=tenant,
        registered=stored.registered,
        opportunity=mode if mode in ("on", "off") else "auto",  # type: ignore[arg-type]
        api_key_sha256=digest,
        updated_at=now_rfc3339(),
    )


def tenants_with_settings(client: redis.Redis, store: ConfigStore) -> list[int]:
    """Registered tenants and tenants with a config hash (SCAN, never KEYS), ascending."""
    found: set[int] = set()
    for member in client.sscan_iter(store.keys.registered, count=1000):
        found.add(int(member))
    for key in client.scan_iter(match=store.keys.tenant_pattern, count=1000):
        matched = _TENANT_IN_KEY.search(key)
        if matched is not None:
            found.add(int(matched.group(1)))
    return sorted(t for t in found if 0 < t <= MAX_TENANT_ID)


def publish_existing_settings(
    client: redis.Redis,
    prefix: str,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    config_topic: str,
) -> Upgrade:
    """Publish every setting in Redis that has no record on the topic; safe to run twice."""
    store = ConfigStore(client, prefix)
    on_topic = read_config_topic(consumer, config_topic).latest
    report = Upgrade()
    for tenant in tenants_with_settings(client, store):
        if tenant in on_topic:
            report.already += 1
            continue
        stored = store.read(tenant)
        if position_of(stored.config) is not None:  # written from a record (topic read trailed)
            report.already += 1
            continue
        record = record_from(tenant, stored)
        if isinstance(record, str):
            report.refused.append((tenant, record))
            continue
        at = publish_tenant_config(producer, config_topic, record)
        store.apply([(at, record)])
        report.published.append(tenant)
    return report


def prepare_config_topic(
    bootstrap: Sequence[str], client: redis.Redis, prefix: str, topic: str
) -> Upgrade:
    """At projector start: create `<topic>.config` if missing, publish Redis-only settings."""
    config_topic = config_topic_of(topic)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=list(bootstrap),
            client_id="custstats-config",
            request_timeout_ms=TIMEOUT_S * 1000,
            bootstrap_timeout_ms=TIMEOUT_S * 1000,
        )
    except KafkaError as exc:
        raise ConfigTopicError(f"cannot reach Kafka at {','.join(bootstrap)}: {exc}") from exc
    try:
        ensure_config_topic(admin, config_topic)
    finally:
        admin.close()
    producer, consumer = open_producer(bootstrap), open_consumer(bootstrap)
    try:
        return publish_existing_settings(client, prefix, producer, consumer, config_topic)
    finally:
        consumer.close()
        producer.close(timeout=5)
