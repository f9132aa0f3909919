"""The real projector process under continuous traffic and faults (issue 10 findings 2 and 5,
issue 11 metrics): ready while events keep arriving; Redis stalled, then killed and restarted
empty (self-heal: incomplete until caught up, then complete); a broker stalled for 35 s; an
unreachable server at start-up; metrics after a known workload; a killed rebuild shows stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from custstats.servers import EmbeddedBroker, EmbeddedRedis, free_port
from projector import control
from projector.layout import ControlLayout, Layout
from projector.versions import field_version
from tests.contract import follow
from tests.support.projector import applied, start_projector
from tests.support.servers import Deployment

pytestmark = pytest.mark.timeout(150)


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {what}")


def events(first: int, count: int) -> list[bytes]:
    return [
        orjson.dumps(follow(f"ev-{n}", 1_700_000_000 + n, customer=n % 50 + 1))
        for n in range(first, first + count)
    ]


def send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()


class Traffic:
    """~`rate` events/s on the topic from a thread, until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: int = 200, first: int = 1_000_000):
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
        self.topic, self.rate, self.sent = topic, rate, 0
        self.first = first
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tick = 0.02
        while not self.stop.wait(tick):
            for value in events(self.first + self.sent, max(1, int(self.rate * tick))):
                self.producer.send(self.topic, value=value)
                self.sent += 1

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.producer.flush()
        self.producer.close()


def current(client: redis.Redis, prefix: str) -> Layout | None:
    version = field_version(client, prefix, control.CURRENT)
    return None if version is None else Layout(prefix, version)


def state(
    client: redis.Redis, prefix: str, topic: str
) -> tuple[bool, dict[int, int], dict[int, int]]:
    """(complete, applied offsets, targets) of the current version; (False, {}, {}) before."""
    layout = current(client, prefix)
    if layout is None:
        return False, {}, {}
    marks = client.hgetall(layout.ready_key)
    offsets = {int(p): int(o) for p, o in client.hgetall(layout.offsets(topic)).items()}
    fresh = control.freshness(client.hgetall(layout.fresh_key))  # type: ignore[arg-type]
    return control.readiness(marks).ready, offsets, fresh.targets  # type: ignore[arg-type]


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_ready_while_events_keep_arriving(
    deployment: Deployment, stopper: list[subprocess.Popen[bytes]]
) -> None:
    """Finding 2: at ~200 events/s no poll is ever empty; the marks come with the batches."""
    topic = deployment.make_topic(2)
    send(deployment.bootstrap, topic, events(0, 2000))
    log = deployment.tmp_path / "projector.log"
    with Traffic(deployment.bootstrap, topic) as traffic:
        stopper.append(start_projector(deployment.env(topic), log))
        client, prefix = deployment.client, deployment.prefix
        wait_for("complete", lambda: state(client, prefix, topic)[0], 40, every=0.2)
        assert not traffic.stop.is_set() and traffic.sent > 0
        _, offsets, targets = state(client, prefix, topic)
        assert set(targets) == {0, 1} and sum(targets.values()) >= 2000
        assert all(offsets[p] >= targets[p] for p in targets)
        layout = current(client, prefix)
        assert layout is not None
        fresh = control.freshness(client.hgetall(layout.fresh_key))  # type: ignore[arg-type]
        assert set(fresh.ends) == {0, 1}
        assert fresh.applied_at_ms is not None
        assert abs(fresh.applied_at_ms / 1000 - time.time()) < 10
    assert stopper[0].poll() is None, log.read_text()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


def test_metrics_after_a_known_workload(
    deployment: Deployment, stopper: list[subprocess.Popen[bytes]]
) -> None:
    """Issue 11: N events and P poison in -> the counters say N and P; the lag falls to 0."""
    topic = deployment.make_topic(2)
    good, poison = events(0, 300), [b"{not json", b"[]", b'{"type": "nope"}'] * 3
    send(deployment.bootstrap, topic, good + poison)
    port = free_port()
    log = deployment.tmp_path / "projector.log"
    stopper.append(start_projector(deployment.env(topic), log, "--metrics-port", str(port)))
    client, prefix = deployment.client, deployment.prefix
    wait_for("applied", lambda: applied(client, prefix, topic) == len(good) + len(poison), 30)

    def settled() -> bool:
        samples = scrape(port)
        lags = [v for (name, _), v in samples.items() if name == "custstats_partition_lag"]
        return len(lags) == 2 and not any(lags)

    wait_for("lag 0 on both partitions", settled, 15, every=0.5)
    samples = scrape(port)
    assert total(samples, "custstats_events_applied_total") == len(good)
    assert total(samples, "custstats_poison_total") == len(poison)
    assert samples[("custstats_server_outage", (("server", "redis"),))] == 0
    text = log.read_text()
    assert "dead letter:" in text and "invalid json" in text.lower(), text


def test_redis_stalled_then_lost_the_projector_rides_it_out_and_self_heals(
    deployment: Deployment, stopper: list[subprocess.Popen[bytes]], private_redis: EmbeddedRedis
) -> None:
    """A Redis stalled past the client's timeout (SIGSTOP), then killed and restarted empty:
    the projector reports the outage, resumes by itself, replays into a new version that is
    incomplete until it has caught up, then complete."""
    topic = deployment.make_topic(2)
    send(deployment.bootstrap, topic, events(0, 4000))
    env = deployment.env(topic) | {
        "CUSTSTATS_REDIS_URL": private_redis.url,
        "CUSTSTATS_BATCH_MAX_RECORDS": "100",  # a replay of many batches: observed mid-way
    }
    log = deployment.tmp_path / "projector.log"
    projector = start_projector(env, log)
    stopper.append(projector)
    client, prefix = redis.Redis.from_url(private_redis.url, socket_timeout=5), deployment.prefix
    wait_for("complete", lambda: state(client, prefix, topic)[0], 40, every=0.2)
    pid = private_redis._proc.pid  # type: ignore[union-attr]

    os.kill(pid, signal.SIGSTOP)  # stalled: the projector's calls time out (15 s)
    send(deployment.bootstrap, topic, events(4000, 300))
    time.sleep(18)
    os.kill(pid, signal.SIGCONT)
    wait_for("stall over", lambda: applied(client, prefix, topic) == 4300, 30, every=0.2)
    assert projector.poll() is None, log.read_text()

    os.kill(pid, signal.SIGKILL)  # lost: restarted without its data
    private_redis.restart()
    client = redis.Redis.from_url(private_redis.url, socket_timeout=5)
    seen: list[tuple[bool, dict[int, int], dict[int, int]]] = []

    def healed() -> bool:
        seen.append(state(client, prefix, topic))
        return seen[-1][0] and sum(seen[-1][1].values()) == 4300

    wait_for("healed and complete", healed, 60, every=0.02)
    assert any(not complete and offsets for complete, offsets, _ in seen), "incomplete first"
    for complete, offsets, targets in seen:
        if complete:
            assert targets and all(offsets.get(p, 0) >= t for p, t in targets.items())
    assert projector.poll() is None
    text = log.read_text()
    assert text.count("Redis at redis://127.0.0.1") >= 2, text  # out, then back
    assert "answers again after" in text and "Traceback" not in text, text
    assert "rebuilding v1 from the beginning of the topic" in text, text


def test_a_broker_stalled_for_35_s_does_not_stop_the_projector(
    deployment: Deployment, stopper: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Finding 5: end_offsets timing out used to kill the projector after ~30 s."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        topic = "stalled"
        broker.create_topic(topic, 2)
        broker.create_topic(f"{topic}.dlq", 1)
        broker.create_topic(f"{topic}.config", 1)
        send(broker.bootstrap, topic, events(0, 200))
        env = deployment.env(topic) | {"CUSTSTATS_KAFKA_BOOTSTRAP": broker.bootstrap}
        log = tmp_path / "projector.log"
        projector = start_projector(env, log)
        stopper.append(projector)
        client, prefix = deployment.client, deployment.prefix
        wait_for("applied", lambda: applied(client, prefix, topic) == 200, 30)
        pid = broker._proc.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(35)
            assert projector.poll() is None, log.read_text()
        finally:
            os.kill(pid, signal.SIGCONT)
        send(broker.bootstrap, topic, events(200, 200))
        wait_for("resumed", lambda: applied(client, prefix, topic) == 400, 60, every=0.2)
        assert projector.poll() is None
        text = log.read_text()
        assert "the Kafka broker at" in text and "answers again after" in text, text
        assert "Traceback" not in text, text
        projector.terminate()
        projector.wait(20)


def projector_cli(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "custstats.cli", "projector", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stderr.decode(), time.monotonic() - started


def problem_lines(err: str) -> list[str]:
    """stderr without the start-up line every run logs (its settings, password masked)."""
    return [
        line for line in err.strip().splitlines() if "custstats projector starting:" not in line
    ]


def test_an_unreachable_server_at_start_up_is_one_line_and_exit_2(deployment: Deployment) -> None:
    env = deployment.env()
    port = free_port()
    no_redis = env | {"CUSTSTATS_REDIS_URL": f"redis://user:s3cret@127.0.0.1:{port}/0"}
    code, err, took = projector_cli(no_redis, "--startup-timeout", "2")
    assert code == 2 and took < 20, err
    assert problem_lines(err) == [
        f"custstats projector: cannot reach Redis at redis://127.0.0.1:{port}/0 (waited 2 s): "
        + err.split("(waited 2 s): ", 1)[1].strip()
    ], err
    assert "s3cret" not in err

    no_broker = env | {"CUSTSTATS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    code, err, took = projector_cli(no_broker, "--startup-timeout", "2")
    assert code == 2 and took < 20, err
    lines = problem_lines(err)
    assert len(lines) == 1 and "cannot reach the Kafka broker at 127.0.0.1:" in lines[0], err


def test_a_busy_metrics_port_is_one_line(deployment: Deployment) -> None:
    with EmbeddedRedis() as busy:
        code, err, _ = projector_cli(deployment.env(), "--metrics-port", str(busy.port))
    assert code == 2, err
    assert problem_lines(err) == [
        f"custstats projector: cannot serve metrics on port {busy.port}: "
        + err.split(f"{busy.port}: ", 1)[1].strip()
    ]


def test_a_killed_rebuild_leaves_a_heartbeat_that_goes_stale(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Finding 5: the control hash says a rebuild runs; its heartbeat says whether it still does."""
    topic = deployment.make_topic(2)
    send(deployment.bootstrap, topic, events(0, 3000))
    env = deployment.env(topic)
    control_key = ControlLayout(deployment.prefix).key
    client = deployment.client
    with (tmp_path / "rebuild.log").open("wb") as sink:
        rebuild = subprocess.Popen(
            [sys.executable, "-m", "custstats.cli", "rebuild"], env=env, stderr=sink
        )
    try:
        wait_for(
            "rebuild started",
            lambda: (
                client.hget(control_key, control.REBUILD_HEARTBEAT) is not None
                and client.hget(control_key, control.REBUILD) is not None
            ),
            30,
            every=0.02,
        )
    finally:
        rebuild.kill()
        rebuild.wait()
    beat = float(client.hget(control_key, control.REBUILD_HEARTBEAT) or 0)
    assert not control.rebuild_stale(beat, time.time())
    time.sleep(3)  # a live rebuild beats every 2 s; this one is dead
    assert float(client.hget(control_key, control.REBUILD_HEARTBEAT) or 0) == beat
    assert client.hget(control_key, control.REBUILD) is not None
    assert control.rebuild_stale(beat, beat + control.REBUILD_STALE_AFTER + 1)
