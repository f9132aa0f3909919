"""Riding out a broker or Redis that is unreachable or stalled (SPEC §4 "Faults").

Every call to a server on the projector's long-running paths goes through `Outages`:
a failure is counted (`custstats_server_errors_total`), the retry waits a capped
exponential backoff, and the outage is reported once — one WARNING when it starts (the
server, masked, and the error), one INFO when the server answers again (how long it
lasted) — instead of a line per failed call or an exit. At start-up the servers get a
bounded wait instead (`wait_for_redis`): an unreachable one is `ServerUnreachable`, one
line for the operator.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import redis
from kafka.errors import KafkaError
from redis.backoff import NoBackoff
from redis.retry import Retry

from projector.errors import ProjectorError, StoreError
from projector.metrics import ProjectorMetrics, Server

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, StoreError)
KAFKA_ERRORS: tuple[type[Exception], ...] = (KafkaError,)
SERVER_ERRORS: tuple[type[Exception], ...] = (*REDIS_ERRORS, *KAFKA_ERRORS)
NAMES: Mapping[Server, str] = {"redis": "Redis", "kafka": "the Kafka broker"}


class ServerUnreachable(ProjectorError):
    """A server did not answer within the start-up bound; the message is one line."""


class Stopped(ProjectorError):
    """A stop was requested while waiting for a server to come back."""


def redis_where(client: redis.Redis) -> str:
    """Where a client connects, without credentials: safe to log."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def kafka_where(servers: Sequence[str]) -> str:
    return ",".join(servers)


def describe(exc: BaseException) -> str:
    """An error in one line: its class and message, no repr of internal objects."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text.startswith(name):  # kafka-python's errors name themselves
        return text
    return f"{name}: {text}" if text else name


@dataclass
class Outages:
    """The outage state of each server, its backoff, and the reports."""

    where: Mapping[Server, str]
    """server -> where it is (masked URL, bootstrap list), for the reports."""
    metrics: ProjectorMetrics | None = None
    clock: Callable[[], float] = time.monotonic
    since: dict[Server, float] = field(default_factory=dict)
    failures: dict[Server, int] = field(default_factory=dict)
    backoff: dict[Server, float] = field(default_factory=dict)

    def out(self, server: Server) -> bool:
        return server in self.since

    def failed(self, server: Server, exc: BaseException) -> float:
        """Count a failed call; report the outage when it starts; the seconds to wait."""
        if self.metrics is not None:
            self.metrics.server_error(server)
        self.failures[server] = self.failures.get(server, 0) + 1
        if server not in self.since:
            self.since[server] = self.clock()
            log.warning(
                "%s at %s is not answering (%s): retrying with backoff until it is back",
                NAMES[server],
                self.where.get(server, "?"),
                describe(exc),
            )
        else:
            log.debug("%s still not answering: %s", NAMES[server], describe(exc))
        delay = self.backoff.get(server, FIRST_BACKOFF_S)
        self.backoff[server] = min(delay * 2, MAX_BACKOFF_S)
        return delay

    def ok(self, server: Server) -> None:
        """A call succeeded: an outage in progress is over."""
        started = self.since.pop(server, None)
        if started is None:
            return
        if self.metrics is not None:
            self.metrics.server_ok(server)
        log.info(
            "%s at %s answers again after %.1f s (%d failed calls)",
            NAMES[server],
            self.where.get(server, "?"),
            self.clock() - started,
            self.failures.pop(server, 0),
        )
        self.backoff.pop(server, None)

    def wait(self, server: Server, exc: BaseException, stop: threading.Event) -> None:
        """After a failed call: report, then sleep the backoff (Stopped if asked to stop)."""
        delay = self.failed(server, exc)
        if stop.wait(delay):
            raise Stopped(f"stopped while {NAMES[server]} was not answering") from exc
        if self.metrics is not None:
            self.metrics.server_retry(server)

    def call(self, server: Server, fn: Callable[[], T], stop: threading.Event) -> T:
        """`fn()` retried with backoff until it succeeds (Stopped if asked to stop)."""
        errors = REDIS_ERRORS if server == "redis" else KAFKA_ERRORS
        while True:
            try:
                result = fn()
            except errors as exc:
                self.wait(server, exc, stop)
                continue
            self.ok(server)
            return result


def wait_for_redis(client: redis.Redis, timeout_s: float) -> None:
    """Start-up: Redis answers a PING within `timeout_s`, else ServerUnreachable (one line)."""
    deadline = time.monotonic() + timeout_s
    delay = FIRST_BACKOFF_S
    while True:
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            if time.monotonic() + delay > deadline:
                raise ServerUnreachable(
                    f"cannot reach Redis at {redis_where(client)} (waited {timeout_s:.0f} s): "
                    f"{describe(exc)}"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)


def open_redis(url: str, timeout_s: float = 15.0) -> redis.Redis:
    """The projector's Redis client: every call bounded by `timeout_s` (a stalled server is an
    error the caller retries, never a hang), no hidden retries of its own."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=min(5.0, timeout_s),
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
