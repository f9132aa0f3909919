"""`custstats publish FILE`: validate JSON-lines events and publish the valid ones.

Every line is checked with the projector's own `decode`, so what this command
rejects is exactly what the projector would dead-letter; a bad line is reported
and skipped, never a reason to stop. Valid lines are published unchanged (the
bytes upstream wrote), keyed as SPEC §1 says so one customer stays in one
partition.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from custstats.progress import ProgressLine
from custstats.settings import Settings
from events.decode import Poison, decode
from events.schema import record_key

CONNECT_TIMEOUT_S = 15
"""How long an unreachable broker (or a topic it will not serve) may take to say so."""
DELIVERY_TIMEOUT_S = 60
SHOWN_REJECTS = 50
"""A file of a million bad lines should not print a million lines."""


class PublishError(Exception):
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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="JSON lines, one event per line; - = stdin")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not getattr(args, "verbose", False):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # our own messages say it better
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"custstats publish: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    progress = Progress(sys.stderr)
    try:
        with source:
            producer = make_producer(settings)
            try:
                _check_topic(producer, settings.topic)
                report = publish_lines(_read(source, args.file), producer, settings.topic, progress)
            finally:
                producer.close(timeout=5)
    except (PublishError, _ReadError) as exc:
        progress.clear()
        print(f"custstats publish: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        progress.clear()
        print(
            "custstats publish: interrupted; lines already sent may be published", file=sys.stderr
        )
        return 130
    progress.finish(report, settings.topic)
    if report.undelivered:
        return 2
    return 1 if report.rejected else 0


class _ReadError(Exception):
    pass


def _read(source: IO[bytes], name: str) -> Iterator[bytes]:
    """Lines of the input; a read error (disk, pipe) ends the run with a message, not a trace."""
    try:
        yield from source
    except OSError as exc:
        raise _ReadError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _check_topic(producer: KafkaProducer, topic: str) -> None:
    """Fail before reading input when the topic cannot be served (the broker may auto-create it)."""
    try:
        producer.partitions_for(topic)
    except KafkaTimeoutError as exc:
        raise PublishError(
            f"topic {topic!r} is not available within {CONNECT_TIMEOUT_S} s "
            "(does it exist, or does the broker auto-create topics?)"
        ) from exc
    except KafkaError as exc:
        raise PublishError(f"topic {topic!r} cannot be used: {exc}") from exc


class Progress:
    """Progress of `publish` on stderr (see `ProgressLine`), and the rejected lines as they come."""

    TTY_INTERVAL_S = 0.2
    LOG_INTERVAL_S = 5.0

    def __init__(self, stream: IO[str]) -> None:
        self._line = ProgressLine(
            stream, tty_interval=self.TTY_INTERVAL_S, log_interval=self.LOG_INTERVAL_S
        )
        self._stream = stream
        self._shown = 0

    def __call__(self, report: PublishReport) -> None:
        if self._shown < min(len(report.rejected), SHOWN_REJECTS):
            self._show_rejects(report.rejected)
        self._line.update(
            lambda: (
                f"line {report.lines}: published {report.published}, "
                f"rejected {len(report.rejected)}"
            )
        )

    def clear(self) -> None:
        self._line.clear()

    def finish(self, report: PublishReport, topic: str) -> None:
        self._show_rejects(report.rejected)
        hidden = len(report.rejected) - self._shown
        if hidden > 0:
            self._stream.write(f"... and {hidden} more\n")
        for number, reason in report.undelivered[:SHOWN_REJECTS]:
            self._stream.write(f"line {number}: {reason}\n")
        if len(report.undelivered) > SHOWN_REJECTS:
            self._stream.write(f"... and {len(report.undelivered) - SHOWN_REJECTS} more\n")
        summary = (
            f"published {report.published} events to {topic!r}, "
            f"rejected {len(report.rejected)} lines"
        )
        if report.undelivered:
            summary += f", {len(report.undelivered)} not delivered"
        self._stream.write(summary + "\n")
        self._stream.flush()

    def _show_rejects(self, rejected: list[tuple[int, str]]) -> None:
        self.clear()
        for number, reason in rejected[self._shown : SHOWN_REJECTS]:
            self._line.write(f"line {number}: {reason}")
        self._shown = max(self._shown, min(len(rejected), SHOWN_REJECTS))
