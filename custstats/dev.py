"""`custstats dev`: the whole system on one machine, with nothing to install or configure.

A newcomer types one command and gets a URL to curl: an embedded Kafka-protocol
broker and an embedded Redis-protocol server (unless the settings name real ones),
the projector and the API as child processes, and with `--demo` a year of demo
data already projected. Every process it starts is stopped again on Ctrl-C or
SIGTERM, and a child that dies ends the session loudly instead of leaving a
half-working system behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import FrameType
from typing import Any

import orjson
import redis

from custstats.demo import demo_events
from custstats.dev_setup import (
    DevError,
    Servers,
    check_port_free,
    child_env,
    create_topics,
    start_servers,
)
from custstats.logs import log_start
from custstats.publisher import PublishError, make_producer, publish_lines
from custstats.servers import die_with_parent
from custstats.settings import Settings, masked_url
from projector.control import CURRENT
from projector.layout import Layout
from projector.versions import field_version

log = logging.getLogger("custstats.dev")

READY_TIMEOUT_S = 60.0
"""From the start of the children to an API whose /readyz answers 200."""
CATCH_UP_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0
"""How long a child may take to stop on SIGTERM before it is killed."""
POLL_S = 0.2
DEMO_TENANT = 25


class _Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM, so every blocking step is interrupted."""


class _StopOnSignal:
    """SIGINT/SIGTERM raise `_Stop` once; while shutting down, further signals are ignored."""

    def __init__(self) -> None:
        self.stopping = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            log.info("already stopping")
            return
        self.stopping = True
        raise _Stop(signal.Signals(signum).name)

    def __enter__(self) -> _StopOnSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class Child:
    """A `custstats` subcommand in a process group of its own, stopped as a group."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A session of its own: the terminal's Ctrl-C reaches only us, and we stop children
        # in order (API, projector, then the servers the projector still needs to leave).
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno(),  # our stdout is the URL and the curl, nothing else
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        log.info("started %s (pid %d)", self.name, self.proc.pid)

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after the grace period; also reaps group leftovers."""
        if self.proc is None:
            return
        group = self.proc.pid
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", self.name, STOP_GRACE_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.proc.wait()
        log.info("stopped %s", self.name)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo", action="store_true", help="publish the demo data set (tenants 25, 26, 27)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface the API listens on")
    parser.add_argument("--port", type=int, default=8000, help="port the API listens on")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not getattr(args, "verbose", False):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # retries while servers start
    with _StopOnSignal() as signals:
        stack = contextlib.ExitStack()  # what we started, stopped in reverse order
        try:
            return _session(args, settings, stack)
        except _Stop as stop:
            log.info("%s: stopping everything", stop)
            return 0
        except DevError as exc:
            signals.stopping = True
            print(f"custstats dev: {exc}", file=sys.stderr)
            return 1
        finally:
            signals.stopping = True  # let nothing interrupt the shutdown
            stack.close()


def _session(args: argparse.Namespace, settings: Settings, stack: contextlib.ExitStack) -> int:
    check_port_free(args.host, args.port)  # before anything starts: not after a banner
    servers = start_servers(settings, stack)
    settings = settings.with_servers(servers.bootstrap, servers.redis_url)
    log_start("dev", settings)
    create_topics(settings)
    env = child_env(settings)
    verbose = ["-v"] if getattr(args, "verbose", False) else []
    log_format = ["--log-format", getattr(args, "log_format", "text")]
    cli = [sys.executable, "-m", "custstats.cli", *verbose, *log_format]
    children = [
        Child("projector", [*cli, "projector"], env),
        Child("api", [*cli, "api", "--host", args.host, "--port", str(args.port)], env),
    ]
    for child in children:
        stack.callback(child.stop)
        child.start()
    base = f"http://{_connect_host(args.host)}:{args.port}"
    _wait_ready(base, children, servers)
    if args.demo:
        ends = _publish_demo(settings)
        _wait_caught_up(settings, ends, children, servers)
    _announce(base, settings, demo=args.demo)
    return _supervise(children, servers)


def _connect_host(host: str) -> str:
    """Where a client on this machine reaches an API listening on `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _check_alive(children: Sequence[Child], servers: Servers) -> None:
    for child in children:
        code = child.exit_code()
        if code is not None:
            raise DevError(
                f"the {child.name} exited unexpectedly with code {code} (its output is above); "
                "stopping everything"
            )
    for server in servers.embedded:
        if not server.running:
            raise DevError(
                f"the embedded {server.name} server stopped unexpectedly; its output:\n"
                f"{server.log_tail()}"
            )


def _wait_ready(base: str, children: Sequence[Child], servers: Servers) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        _check_alive(children, servers)
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    log.info("API ready at %s", base)
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or 503 until the projector created the projection
        if time.monotonic() > deadline:
            raise DevError(f"the API at {base} was not ready within {READY_TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)


class _EndTracker:
    """A producer wrapper that remembers, per partition, the offset after the last record sent."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.ends: dict[int, int] = {}

    def _sent(self, metadata: Any) -> None:  # runs on the producer's single I/O thread
        self.ends[metadata.partition] = max(
            self.ends.get(metadata.partition, 0), metadata.offset + 1
        )

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any:
        future = self.producer.send(topic, key=key, value=value)
        future.add_callback(self._sent)
        return future

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)


def _publish_demo(settings: Settings) -> dict[int, int]:
    """Publish the demo events; returns the end offset per partition they reached."""
    started = time.monotonic()
    events = demo_events(zone=settings.zone)
    log.info("publishing %d demo events to %s", len(events), settings.topic)
    try:
        producer = make_producer(settings)
    except PublishError as exc:
        raise DevError(str(exc)) from exc
    tracker = _EndTracker(producer)
    try:
        report = publish_lines((orjson.dumps(e) for e in events), tracker, settings.topic)
    except PublishError as exc:
        raise DevError(f"cannot publish the demo events: {exc}") from exc
    finally:
        producer.close(timeout=5)
    if report.rejected or report.undelivered:
        raise DevError(
            f"demo publish incomplete: {len(report.rejected)} rejected, "
            f"{len(report.undelivered)} not delivered"
        )
    log.info("published %d events in %.1f s", report.published, time.monotonic() - started)
    return tracker.ends


def applied_offsets(client: redis.Redis, settings: Settings) -> dict[int, int]:
    """Next offset per partition, as the projector wrote it with the current projection."""
    version = field_version(client, settings.key_prefix, CURRENT)
    if version is None:
        return {}
    raw = client.hgetall(Layout(settings.key_prefix, version).offsets(settings.topic))
    return {int(partition): int(offset) for partition, offset in raw.items()}


def _wait_caught_up(
    settings: Settings, ends: dict[int, int], children: Sequence[Child], servers: Servers
) -> None:
    total = sum(ends.values())
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    report_at = time.monotonic() + 5
    client = redis.Redis.from_url(settings.redis())
    try:
        while True:
            _check_alive(children, servers)
            applied = applied_offsets(client, settings)
            behind = sum(max(0, end - applied.get(p, 0)) for p, end in ends.items())
            if behind == 0:
                log.info("projection caught up")
                return
            if time.monotonic() > report_at:
                log.info("projecting: %d of %d records behind", behind, total)
                report_at = time.monotonic() + 5
            if time.monotonic() > deadline:
                raise DevError(
                    f"the projector is still {behind} records behind after "
                    f"{CATCH_UP_TIMEOUT_S:.0f} s"
                )
            time.sleep(POLL_S)
    except redis.RedisError as exc:
        raise DevError(f"cannot read the projection's offsets: {exc}") from exc
    finally:
        client.close()


def demo_curl(base: str, tenant: int = DEMO_TENANT) -> str:
    url = f"{base}/business/{tenant}/plugin/CustomerManage/getStatisticsList"
    return f"curl -s -X POST '{url}' -H 'Content-Type: application/json' -d '{{\"per_page\":5}}'"


def _announce(base: str, settings: Settings, *, demo: bool) -> None:
    lines = [
        "",
        f"custstats is running: {base}/business/{DEMO_TENANT}/plugin/CustomerManage/"
        "getStatisticsList",
        f"  API docs: {base}/docs",
        "  try:",
        f"    {demo_curl(base)}",
    ]
    if not demo:
        lines.append("  no events yet: publish some with `custstats publish FILE` (or use --demo)")
    lines += [
        "  other commands reach this system with:",
        f"    export CUSTSTATS_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} "
        f"CUSTSTATS_REDIS_URL={masked_url(settings.redis())} CUSTSTATS_TOPIC={settings.topic} "
        f"CUSTSTATS_KEY_PREFIX={settings.key_prefix}",
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)


def _supervise(children: Sequence[Child], servers: Servers) -> int:
    """Wait for Ctrl-C (raised as _Stop); a dying child ends the session with an error."""
    while True:
        _check_alive(children, servers)
        time.sleep(POLL_S)
