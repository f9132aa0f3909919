"""Poison records go to `<topic>.dlq` with the reason and where they came from.

The producer is sized for what it sends: a record bigger than that is sent cut to what
fits, with its original size in a header, so no record of any size can stop a partition
(kafka-python refuses a request over its `max_request_size` before sending it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from events.decode import Poison
from projector.config import ProjectorConfig
from projector.source import Record

MAX_REQUEST = 1 << 20
"""The producer's request limit: Kafka's default `message.max.bytes` on the dead-letter topic."""
MAX_VALUE = MAX_REQUEST - (64 << 10)
"""A dead letter's value is cut to this; the rest of the request is key, headers, framing."""
MAX_KEY = 1 << 10
SEND_TIMEOUT_S = 15
"""Bound of one send (metadata wait, delivery): a broker that does not take the letters in
time is an outage the runner retries (projector.outage), never a hang."""


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
        """Send and wait until every letter is acknowledged; KafkaError when the broker does not
        take them in time (the producer is dropped: a retry starts clean, and may send some
        letters twice, which a dead-letter reader tolerates)."""
        if not poison:
            return
        try:
            producer = self._open()
            sent = []
            for record, verdict in poison:
                key, value, headers = letter(record, verdict)
                sent.append(
                    producer.send(self.config.dlq_topic, key=key, value=value, headers=headers)
                )
            producer.flush(timeout=SEND_TIMEOUT_S)
            for future in sent:
                future.get(timeout=SEND_TIMEOUT_S)  # raises the delivery's error, if any
        except KafkaError:
            self._drop()
            raise

    def _open(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=list(self.config.kafka_servers),
                acks="all",
                linger_ms=5,
                max_request_size=MAX_REQUEST,
                max_block_ms=SEND_TIMEOUT_S * 1000,
                request_timeout_ms=SEND_TIMEOUT_S * 1000,
                bootstrap_timeout_ms=SEND_TIMEOUT_S * 1000,
                reconnect_backoff_max_ms=2000,
            )
        return self._producer

    def _drop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(KafkaError):
                self._producer.close(timeout=0)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
