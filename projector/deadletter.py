"""Poison records go to `<topic>.dlq` with the reason and where they came from.

The producer is sized for what it sends: a record bigger than that is sent cut to what
fits, with its original size in a header, so no record of any size can stop a partition
(kafka-python refuses a request over its `max_request_size` before sending it).
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka import KafkaProducer

from events.decode import Poison
from projector.config import ProjectorConfig
from projector.source import Record

MAX_REQUEST = 1 << 20
"""The producer's request limit: Kafka's default `message.max.bytes` on the dead-letter topic."""
MAX_VALUE = MAX_REQUEST - (64 << 10)
"""A dead letter's value is cut to this; the rest of the request is key, headers, framing."""
MAX_KEY = 1 << 10


def letter(record: Record, verdict: Poison) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of the dead letter for `record`, cut to fit if it is too big."""
    value = record.value if record.value is not None else b""
    key = record.key
    headers = [
        ("reason", verdict.reason.encode()[:MAX_KEY]),
        ("source-topic", record.topic.encode()),
        ("source-partition", str(record.partition).encode()),
        ("source-offset", str(record.offset).encode()),
    ]
    if len(value) > MAX_VALUE or (key is not None and len(key) > MAX_KEY):
        headers += [
            ("truncated", b"true"),
            ("original-size", str(len(value)).encode()),
            ("original-key-size", str(0 if key is None else len(key)).encode()),
        ]
        value = value[:MAX_VALUE]
        key = None if key is None else key[:MAX_KEY]
    return key, value, headers


class DeadLetters:
    """The dead-letter producer, opened on first use."""

    def __init__(self, config: ProjectorConfig) -> None:
        self.config = config
        self._producer: KafkaProducer | None = None

    def send(self, poison: Sequence[tuple[Record, Poison]]) -> None:
        if not poison:
            return
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=list(self.config.kafka_servers),
                acks="all",
                linger_ms=5,
                max_request_size=MAX_REQUEST,
            )
        for record, verdict in poison:
            key, value, headers = letter(record, verdict)
            self._producer.send(self.config.dlq_topic, key=key, value=value, headers=headers)
        self._producer.flush(timeout=30)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
