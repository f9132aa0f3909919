"""The Kafka side of operator settings: the `<topic>.config` topic, its writer and a full read.

`custstats tenant` publishes a tenant's whole settings with `publish_tenant_config`
(acks=all, flushed: the returned position is durable), then applies the same record
to Redis through `ConfigStore.apply` so the change shows at once; the projector's
`ConfigFollower` applies it too, and whichever comes second is stale and skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from events.tenant_config import BadConfig, TenantConfig, decode, encode
from projector.tenant_config import Position

log = logging.getLogger(__name__)

TIMEOUT_S = 15
COMPACT = {"cleanup.policy": "compact"}


class ConfigTopicError(Exception):
    """The config topic cannot be created, written or read; the message is one line."""


def config_topic_of(topic: str) -> str:
    """The settings topic of the deployment whose events are on `topic`."""
    return f"{topic}.config"


def ensure_config_topic(
    admin: KafkaAdminClient, config_topic: str, replication_factor: int = -1
) -> bool:
    """Create the topic (one partition, compacted) unless it exists; whether it was created.

    One partition keeps every setting in one total order. -1 = the broker's default
    replication (Kafka >= 2.4); an existing topic is left as it is."""
    try:
        admin.create_topics(
            [NewTopic(config_topic, 1, replication_factor, topic_configs=dict(COMPACT))]
        )
    except TopicAlreadyExistsError:
        return False
    except KafkaError as exc:
        raise ConfigTopicError(f"cannot create topic {config_topic!r}: {exc}") from exc
    return True


def open_producer(bootstrap: Sequence[str]) -> KafkaProducer:
    try:
        return KafkaProducer(
            bootstrap_servers=list(bootstrap),
            client_id="custstats-config",
            acks="all",
            retries=5,
            request_timeout_ms=TIMEOUT_S * 1000,
            bootstrap_timeout_ms=TIMEOUT_S * 1000,
            max_block_ms=TIMEOUT_S * 1000,
            delivery_timeout_ms=2 * TIMEOUT_S * 1000,
        )
    except KafkaError as exc:
        raise ConfigTopicError(
            f"cannot reach Kafka at {','.join(bootstrap)} within {TIMEOUT_S} s: {exc}"
        ) from exc


def publish_tenant_config(
    producer: KafkaProducer | Sequence[str], config_topic: str, record: TenantConfig
) -> Position:
    """Publish the tenant's settings and wait until the broker acknowledged them (acks=all)."""
    own = not isinstance(producer, KafkaProducer)
    sender = open_producer(producer) if not isinstance(producer, KafkaProducer) else producer
    key, value = encode(record)
    try:
        future = sender.send(config_topic, key=key, value=value)
        sender.flush(timeout=2 * TIMEOUT_S)
        meta = future.get(timeout=TIMEOUT_S)
    except KafkaError as exc:
        raise ConfigTopicError(
            f"Kafka did not acknowledge the settings of tenant {record.tenant_id} "
            f"on {config_topic!r}: {exc}"
        ) from exc
    finally:
        if own:
            sender.close(timeout=5)
    return Position(meta.partition, meta.offset)


def open_consumer(bootstrap: Sequence[str], max_poll_records: int = 500) -> KafkaConsumer:
    """A consumer outside any group: partitions are assigned by hand, nothing is committed."""
    try:
        return KafkaConsumer(
            bootstrap_servers=list(bootstrap),
            client_id="custstats-config",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            max_poll_records=max_poll_records,
            request_timeout_ms=TIMEOUT_S * 1000,
            bootstrap_timeout_ms=TIMEOUT_S * 1000,
        )
    except KafkaError as exc:
        raise ConfigTopicError(
            f"cannot reach Kafka at {','.join(bootstrap)} within {TIMEOUT_S} s: {exc}"
        ) from exc


def assign_all(consumer: KafkaConsumer, config_topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(config_topic)
    if not partitions:
        raise ConfigTopicError(f"topic {config_topic!r} does not exist (ensure_config_topic)")
    assigned = [TopicPartition(config_topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    return assigned


@dataclass
class Snapshot:
    """The topic's latest valid record per tenant, and the records that were not valid."""

    latest: dict[int, tuple[Position, TenantConfig]] = field(default_factory=dict)
    bad: list[tuple[Position, BadConfig]] = field(default_factory=list)


def read_config_topic(
    consumer: KafkaConsumer, config_topic: str, timeout_s: float = 30.0
) -> Snapshot:
    """Every record up to the end offsets of now, folded to the latest per tenant."""
    assigned = assign_all(consumer, config_topic)
    consumer.seek_to_beginning(*assigned)
    try:
        ends = {tp.partition: end for tp, end in consumer.end_offsets(assigned).items()}
        snapshot, deadline = Snapshot(), time.monotonic() + timeout_s
        while True:
            if time.monotonic() > deadline:
                raise ConfigTopicError(f"{config_topic!r} not read to its end in {timeout_s} s")
            polled = consumer.poll(timeout_ms=300)
            if not polled and all(consumer.position(tp) >= ends[tp.partition] for tp in assigned):
                break  # at the ends and nothing more (Tansu's ends can trail a batch's last record)
            for tp, batch in polled.items():
                for message in batch:
                    at = Position(tp.partition, message.offset)
                    verdict = decode(message.key, message.value)
                    if isinstance(verdict, BadConfig):
                        snapshot.bad.append((at, verdict))
                    else:
                        snapshot.latest[verdict.tenant_id] = (at, verdict)
    except KafkaError as exc:
        raise ConfigTopicError(f"cannot read {config_topic!r}: {exc}") from exc
    return snapshot
