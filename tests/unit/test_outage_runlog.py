"""Outage reports (one WARNING when it starts, one INFO when it is over, metrics), the progress
line and the rate-limited dead-letter lines, with a fake clock; the default group id."""

from __future__ import annotations

import logging
import threading
from zoneinfo import ZoneInfo

import pytest
import redis
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from projector.config import ProjectorConfig, default_group_id
from projector.metrics import ProjectorMetrics
from projector.outage import Outages, ServerUnreachable, describe, wait_for_redis
from projector.runlog import DeadLetterLog, ProgressLog
from projector.source import consumer_config


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_reported_once_and_its_end_with_its_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, registry = Clock(), CollectorRegistry()
    outages = Outages({"redis": "redis://h:1/0"}, ProjectorMetrics(registry), clock)
    caplog.set_level(logging.DEBUG, "projector.outage")
    delays = [outages.failed("redis", ConnectionError("refused")) for _ in range(8)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]  # capped exponential backoff
    value = registry.get_sample_value
    assert value("custstats_server_outage", {"server": "redis"}) == 1
    assert value("custstats_server_errors_total", {"server": "redis"}) == 8
    clock.now += 42
    outages.ok("redis")
    outages.ok("redis")  # no outage: nothing to say
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert warnings == [
        "Redis at redis://h:1/0 is not answering (ConnectionError: refused): "
        "retrying with backoff until it is back"
    ]
    assert infos == ["Redis at redis://h:1/0 answers again after 42.0 s (8 failed calls)"]
    assert value("custstats_server_outage", {"server": "redis"}) == 0
    assert outages.failed("redis", ConnectionError("again")) == 0.2  # a new outage starts over


def test_call_retries_until_it_succeeds() -> None:
    registry = CollectorRegistry()
    outages = Outages({}, ProjectorMetrics(registry))
    outages.backoff["kafka"] = 0.001
    answers: list[Exception | str] = [kafka_timeout(), kafka_timeout(), "done"]

    def flaky() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert outages.call("kafka", flaky, threading.Event()) == "done"
    assert registry.get_sample_value("custstats_server_retries_total", {"server": "kafka"}) == 2


def kafka_timeout() -> Exception:
    error: Exception = KafkaTimeoutError("Failed to get offsets")
    return error


def test_describe_names_an_error_once() -> None:
    assert describe(ConnectionError("refused\nmore")) == "ConnectionError: refused"
    assert describe(kafka_timeout()) == "KafkaTimeoutError: Failed to get offsets"
    assert describe(TimeoutError()) == "TimeoutError"


def test_wait_for_redis_gives_up_in_one_line() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, password="s3cret", socket_connect_timeout=0.2)
    with pytest.raises(ServerUnreachable) as caught:
        wait_for_redis(client, 0.5)
    text = str(caught.value)
    assert text.startswith("cannot reach Redis at redis://127.0.0.1:1/0 (waited 0 s): ")
    assert "s3cret" not in text and "\n" not in text


def test_progress_line_every_10_s(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = ProgressLog(clock=clock)
    caplog.set_level(logging.INFO, "projector")
    for _ in range(4):
        progress.applied(100, 7, 2)
        clock.now += 4
    assert [r.getMessage() for r in caplog.records] == [
        "applied 400 events in the last 12 s (33/s), lag 7, 2 dead letters so far"
    ]


def test_dead_letters_are_logged_with_their_reason_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    letters = DeadLetterLog(limit=2, clock=clock)
    caplog.set_level(logging.WARNING, "projector")
    for offset in range(5):
        letters.letter("t", 0, offset, "invalid JSON")
    clock.now += 11
    letters.letter("t", 1, 9, "unknown type 'x'")
    assert [r.getMessage() for r in caplog.records] == [
        "dead letter: t partition 0 offset 0: invalid JSON",
        "dead letter: t partition 0 offset 1: invalid JSON",
        "3 more dead letters in the last 10 s not logged one by one (see the dead-letter topic)",
        "dead letter: t partition 1 offset 9: unknown type 'x'",
    ]


def test_the_default_group_is_one_per_topic() -> None:
    """Finding 6: two deployments on one broker with different topics never share a group."""
    config = ProjectorConfig(("k:9092",), "redis://r", "orders", None, "p", ZoneInfo("UTC"))
    assert config.consumer_group == default_group_id("orders") == "custstats-projector.orders"
    assert consumer_config(config)["group_id"] == "custstats-projector.orders"
    chosen = ProjectorConfig(("k:9092",), "redis://r", "orders", "mine", "p", ZoneInfo("UTC"))
    assert consumer_config(chosen)["group_id"] == "mine"


def test_settings_leave_the_group_to_the_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    from custstats.settings import Settings

    monkeypatch.delenv("CUSTSTATS_GROUP_ID", raising=False)
    monkeypatch.setenv("CUSTSTATS_TOPIC", "billing")
    config = Settings(_env_file=None).projector_config()  # type: ignore[call-arg]
    assert config.consumer_group == "custstats-projector.billing"
