"""Publishing events to the topic: validate each line as the projector would, key it, send it.

The service behind `custstats publish` and `custstats dev --demo` (and the
benchmarks' feeder); the commands only render its report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from custstats.errors import CliError
from custstats.settings import Settings
from events.decode import Poison, decode
from events.schema import record_key

CONNECT_TIMEOUT_S = 15
"""How long an unreachable broker (or a topic it will not serve) may take to say so."""
DELIVERY_TIMEOUT_S = 60


class PublishError(CliError):
    """Kafka cannot take the events: unreachable, unknown topic, or flush timed out."""


class Delivery(Protocol):
    """What `send` returns: kafka-python's FutureRecordMetadata, or a test's fake."""

    def add_errback(self, _f: Callable[..., Any], /, *_args: Any, **_kwargs: Any) -> Any: ...


class Producer(Protocol):
    def send(self, topic: str, *, key: bytes, value: bytes) -> Delivery: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass
class PublishReport:
    """Outcome of a publish; while it runs, `published` counts records handed to the producer.

    Once `publish_lines` returns, `published` counts records the broker acknowledged,
    `rejected` the invalid lines and `undelivered` the valid lines Kafka did not take.
    """

    published: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    undelivered: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0


def publish_lines(
    lines: Iterable[bytes],
    producer: Producer,
    topic: str,
    on_progress: Callable[[PublishReport], None] | None = None,
) -> PublishReport:
    """Publish each valid line (numbered from 1) keyed by `record_key`, then flush.

    `on_progress` is called after every line; it should be cheap or throttle itself.
    Raises PublishError when Kafka stops accepting records altogether.
    """
    report = PublishReport()
    undelivered = report.undelivered

    def lost(number: int, exc: BaseException) -> None:  # runs on the producer's I/O thread
        undelivered.append((number, f"not delivered: {exc}"))

    for number, line in enumerate(lines, start=1):
        report.lines = number
        value = line.rstrip(b"\r\n")
        if value.strip():
            event = decode(value)
            if isinstance(event, Poison):
                report.rejected.append((number, event.reason))
            else:
                try:
                    delivery = producer.send(topic, key=record_key(event), value=value)
                except MessageSizeTooLargeError:
                    report.rejected.append((number, f"line too large for Kafka ({len(value)} B)"))
                except KafkaError as exc:
                    raise PublishError(
                        f"Kafka stopped accepting records at line {number}: {exc}"
                    ) from exc
                else:
                    delivery.add_errback(lost, number)
                    report.published += 1
        if on_progress is not None:
            on_progress(report)
    try:
        producer.flush(timeout=DELIVERY_TIMEOUT_S + CONNECT_TIMEOUT_S)
    except KafkaError as exc:
        raise PublishError(f"Kafka did not acknowledge the records: {exc}") from exc
    undelivered.sort()
    report.published -= len(undelivered)
    return report


def make_producer(settings: Settings) -> KafkaProducer:
    """A producer that waits for all replicas and fails within ~15 s when Kafka is unreachable."""
    try:
        return KafkaProducer(
            bootstrap_servers=settings.kafka_servers(),
            client_id="custstats-publish",
            acks="all",
            linger_ms=20,
            batch_size=256 * 1024,
            retries=10,
            delivery_timeout_ms=DELIVERY_TIMEOUT_S * 1000,
            request_timeout_ms=CONNECT_TIMEOUT_S * 1000,
            bootstrap_timeout_ms=CONNECT_TIMEOUT_S * 1000,
            max_block_ms=CONNECT_TIMEOUT_S * 1000,
        )
    except KafkaTimeoutError as exc:
        raise PublishError(
            f"cannot reach Kafka at {','.join(settings.kafka_servers())} within "
            f"{CONNECT_TIMEOUT_S} s (is it running? see CUSTSTATS_KAFKA_BOOTSTRAP)"
        ) from exc
    except KafkaError as exc:
        raise PublishError(
            f"cannot use Kafka at {','.join(settings.kafka_servers())}: {exc}"
        ) from exc
