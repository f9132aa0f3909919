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
from collections.abc import Iterator
from typing import IO

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from custstats.progress import ProgressLine, plural
from custstats.publisher import (
    CONNECT_TIMEOUT_S,
    PublishError,
    PublishReport,
    make_producer,
    publish_lines,
)
from custstats.settings import Settings

SHOWN_REJECTS = 50
"""A file of a million bad lines should not print a million lines."""


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
            f"published {plural(report.published, 'event')} to {topic!r}, "
            f"rejected {plural(len(report.rejected), 'line')}"
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
