"""The write side of `custstats tenant`: a change becomes a record on `<topic>.config`.

The record is durable (acks=all) before Redis shows it, so a Redis that loses its
state gets the setting back from the projector's replay (SPEC §4). The topic is
created when missing (one partition, compacted), so `custstats tenant` works before
any projector ran; the settings already in Redis are published once first (the
one-time upgrade, `projector.config_upgrade`, called by the writer).
"""

from __future__ import annotations

import redis
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from custstats.errors import CliError
from custstats.settings import Settings
from events.tenant_config import TenantConfig
from projector.config_store import ConfigStoreError
from projector.config_topic import (
    TIMEOUT_S,
    ConfigTopicError,
    config_topic_of,
    ensure_config_topic,
    open_consumer,
    open_producer,
)
from projector.config_writer import Change, write_tenant_setting


class SettingNotWritten(CliError):
    """The config topic could not be created, read or written: nothing changed."""


def _ensure_topic(bootstrap: list[str], config_topic: str) -> None:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="custstats-tenant",
            request_timeout_ms=TIMEOUT_S * 1000,
            bootstrap_timeout_ms=TIMEOUT_S * 1000,
        )
    except KafkaError as exc:
        raise ConfigTopicError(
            f"cannot reach Kafka at {','.join(bootstrap)} within {TIMEOUT_S} s: {exc}"
        ) from exc
    try:
        ensure_config_topic(admin, config_topic)
    finally:
        admin.close()


def write_setting(
    settings: Settings, client: redis.Redis, tenant: int, change: Change
) -> TenantConfig:
    """Publish the tenant's changed settings and apply them to Redis; the record written."""
    bootstrap = settings.kafka_servers()
    config_topic = config_topic_of(settings.topic)
    try:
        _ensure_topic(bootstrap, config_topic)
        producer = open_producer(bootstrap)
        try:
            consumer = open_consumer(bootstrap)
            try:
                _, record = write_tenant_setting(
                    client, settings.key_prefix, producer, consumer, config_topic, tenant, change
                )
            finally:
                consumer.close()
        finally:
            producer.close(timeout=5)
    except ConfigTopicError as exc:
        raise SettingNotWritten(str(exc)) from exc
    except ConfigStoreError as exc:
        raise SettingNotWritten(
            f"published to {config_topic!r}, but Redis not updated ({exc}): "
            "the projector applies it"
        ) from exc
    except KafkaError as exc:
        raise SettingNotWritten(f"Kafka failed: {exc}") from exc
    return record
