"""publish_lines and the progress output, against a fake producer that records what it is given."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError

from custstats import publish
from custstats.publish import Progress
from custstats.publisher import PublishError, PublishReport, publish_lines
from custstats.settings import Settings

TOPIC = "customer-events"


class FakeDelivery:
    def __init__(self) -> None:
        self.errbacks: list[Callable[[BaseException], Any]] = []

    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> FakeDelivery:
        self.errbacks.append(partial(f, *args, **kwargs))
        return self


class FakeProducer:
    """Records sends; `fail_on_flush` values are refused by the 'broker' when flushed."""

    def __init__(
        self,
        fail_on_flush: frozenset[bytes] = frozenset(),
        raise_on_send: dict[bytes, Exception] | None = None,
    ) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.deliveries: list[FakeDelivery] = []
        self.flushes = 0
        self.sent_at_flush = -1
        self.fail_on_flush = fail_on_flush
        self.raise_on_send = raise_on_send or {}

    def send(self, topic: str, *, key: bytes, value: bytes) -> FakeDelivery:
        if value in self.raise_on_send:
            raise self.raise_on_send[value]
        self.sent.append((topic, key, value))
        self.deliveries.append(FakeDelivery())
        return self.deliveries[-1]

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1
        self.sent_at_flush = len(self.sent)
        for (_, _, value), delivery in zip(self.sent, self.deliveries, strict=True):
            if value in self.fail_on_flush:
                for errback in delivery.errbacks:
                    errback(NotLeaderForPartitionError("broker went away"))


def line(**fields: Any) -> bytes:
    event = {"event_id": "e", "tenant_id": 25, "occurred_at": 1680158478, **fields}
    return orjson.dumps(event)


LOST = line(type="customer-lost", employee_id=222, customer_id=9)
FOLLOW = line(type="follow-recorded", employee_id=7, customer_id=9, event_id="f")
EMPLOYEE = line(
    type="employee-upserted",
    employee_id=222,
    name="谢梓杰",
    department_ids=[],
    userid=None,
    avatar_mediaid=None,
)
OTHER_TENANT = line(type="customer-lost", employee_id=1, customer_id=9, tenant_id=26)


def test_keys_follow_the_record_key_rule_and_values_are_the_original_bytes() -> None:
    spaced = b'{ "type": "customer-lost", "event_id": "x", "tenant_id": 25, "occurred_at": 1,'
    spaced += b' "employee_id": 3, "customer_id": 10, "note": "kept" }'
    producer = FakeProducer()
    report = publish_lines(
        [LOST + b"\n", EMPLOYEE + b"\r\n", OTHER_TENANT + b"\n", spaced, FOLLOW + b"\n"],
        producer,
        TOPIC,
    )
    assert producer.sent == [
        (TOPIC, b"25:9", LOST),
        (TOPIC, b"25:employee:222", EMPLOYEE),
        (TOPIC, b"26:9", OTHER_TENANT),
        (TOPIC, b"25:10", spaced),
        (TOPIC, b"25:9", FOLLOW),
    ]
    assert report.published == 5
    assert report.rejected == []


def test_invalid_lines_are_reported_by_number_and_the_rest_still_sent() -> None:
    lines = [
        LOST + b"\n",  # 1
        b"\n",  # 2: blank, skipped silently
        b"{broken\n",  # 3
        b"   \t\n",  # 4: blank
        line(type="customer-lost", employee_id=1) + b"\n",  # 5: no customer_id
        FOLLOW + b"\n",  # 6
        line(type="customer-deleted") + b"\n",  # 7
        EMPLOYEE,  # 8: last line without newline
    ]
    producer = FakeProducer()
    report = publish_lines(lines, producer, TOPIC)
    assert [number for number, _ in report.rejected] == [3, 5, 7]
    assert report.rejected[0][1].startswith("invalid JSON")
    assert report.rejected[1][1] == "missing field 'customer_id'"
    assert "unknown type 'customer-deleted'" in report.rejected[2][1]
    assert [value for _, _, value in producer.sent] == [LOST, FOLLOW, EMPLOYEE]
    assert report.published == 3
    assert report.lines == 8


def test_everything_is_flushed_once_after_the_last_send() -> None:
    producer = FakeProducer()
    publish_lines([LOST, FOLLOW], producer, TOPIC)
    assert producer.flushes == 1
    assert producer.sent_at_flush == 2


def test_records_the_broker_refuses_are_reported_as_undelivered() -> None:
    producer = FakeProducer(fail_on_flush=frozenset({FOLLOW}))
    report = publish_lines([LOST, b"nope", FOLLOW, EMPLOYEE], producer, TOPIC)
    assert report.published == 2
    assert [number for number, _ in report.undelivered] == [3]
    assert "broker went away" in report.undelivered[0][1]
    assert [number for number, _ in report.rejected] == [2]


def test_a_line_too_large_for_kafka_is_rejected_and_the_rest_sent() -> None:
    producer = FakeProducer(raise_on_send={FOLLOW: MessageSizeTooLargeError("too big")})
    report = publish_lines([LOST, FOLLOW, EMPLOYEE], producer, TOPIC)
    assert report.rejected == [(2, f"line too large for Kafka ({len(FOLLOW)} B)")]
    assert [value for _, _, value in producer.sent] == [LOST, EMPLOYEE]


def test_kafka_refusing_everything_stops_with_a_publish_error() -> None:
    producer = FakeProducer(raise_on_send={FOLLOW: KafkaTimeoutError("metadata")})
    with pytest.raises(PublishError, match="at line 2"):
        publish_lines([LOST, FOLLOW, EMPLOYEE], producer, TOPIC)


def test_progress_is_called_after_every_line() -> None:
    seen: list[tuple[int, int, int]] = []

    def progress(report: PublishReport) -> None:
        seen.append((report.lines, report.published, len(report.rejected)))

    publish_lines([LOST, b"", b"[]", FOLLOW], FakeProducer(), TOPIC, on_progress=progress)
    assert seen == [(1, 1, 0), (2, 1, 0), (3, 1, 1), (4, 2, 1)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rejects_are_printed_up_to_fifty_then_counted() -> None:
    err = io.StringIO()
    progress = Progress(err)
    report = publish_lines([b"x"] * 60 + [LOST], FakeProducer(), TOPIC, on_progress=progress)
    progress.finish(report, TOPIC)
    lines = err.getvalue().splitlines()
    shown = [text for text in lines if text.startswith("line ")]
    assert len(shown) == 50
    assert shown[0].startswith("line 1: invalid JSON")
    assert shown[-1].startswith("line 50: ")
    assert "... and 10 more" in lines
    assert lines[-1] == "published 1 event to 'customer-events', rejected 60 lines"


def test_progress_on_a_terminal_is_one_updating_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Progress, "TTY_INTERVAL_S", 0.0)
    err = Terminal()
    progress = Progress(err)
    report = publish_lines([LOST, FOLLOW, b"{"], FakeProducer(), TOPIC, on_progress=progress)
    progress.finish(report, TOPIC)
    output = err.getvalue()
    assert "\r\x1b[Kline 2: published 2, rejected 0" in output
    assert "\r\x1b[Kline 3: invalid JSON" in output  # the reject does not land mid-line
    assert output.endswith("\r\x1b[Kpublished 2 events to 'customer-events', rejected 1 line\n")
    assert output.count("\n") == 2


def test_progress_elsewhere_is_a_line_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Progress, "LOG_INTERVAL_S", 0.0)
    err = io.StringIO()
    publish_lines([LOST, FOLLOW], FakeProducer(), TOPIC, on_progress=Progress(err))
    assert err.getvalue() == "line 1: published 1, rejected 0\nline 2: published 2, rejected 0\n"
    assert "\r" not in err.getvalue()


def test_an_unreadable_file_exits_2_before_touching_kafka(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    publish.configure(parser)
    settings = Settings(kafka_bootstrap="127.0.0.1:1")
    assert publish.run(parser.parse_args([str(tmp_path / "missing.jsonl")]), settings) == 2
    assert publish.run(parser.parse_args([str(tmp_path)]), settings) == 2
    err = capsys.readouterr().err
    assert f"cannot read {tmp_path / 'missing.jsonl'}: No such file or directory" in err
    assert f"cannot read {tmp_path}: Is a directory" in err
    assert "Traceback" not in err
