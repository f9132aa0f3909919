"""Prometheus metrics of one projector process (SPEC §4 "Metrics"), served on --metrics-port.

Every metric is created in the `CollectorRegistry` given to `ProjectorMetrics`, so a test
builds a fresh registry and a process builds one for its exporter; nothing registers at
import time. Label sets are bounded: the six event types, eight poison categories, two
servers (`redis`, `kafka`), five rebuild phases, and the topic/partition pairs this
instance owns. Never a tenant, customer or employee id.

The projector is one process, so these metrics live in memory; do not run it with
PROMETHEUS_MULTIPROC_DIR set (that variable is for the API's workers, see api/metrics.py).
docs/metrics.md says what each metric tells the operator and which alert uses it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from events.schema import TYPE_NAMES, Event

Server = Literal["redis", "kafka"]
SERVERS: tuple[Server, ...] = ("redis", "kafka")
PHASES = ("idle", "bulk", "catching_up", "switching", "failed")
"""Rebuild phases: none running, bulk replay, catching up with the live end, switching the
live version over, given up (the operator must look)."""
POISON_CATEGORIES = (
    "invalid_json",
    "too_large",
    "missing_field",
    "wrong_type",
    "unknown_type",
    "bad_timestamp",
    "over_limit",
    "other",
)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
"""Events per applied batch: one straggler up to a full replay poll."""
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds of one atomic batch write: a local Redis answers in ~1 ms, a stalled one in 10 s+."""

# (category, pattern) tried in this order on the first reason of a Poison (the decoder joins
# several with "; "), with quoted producer values blanked so that they cannot match.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("invalid_json", re.compile(r"^(empty record|invalid (json|utf-8)|event must be a json)")),
    ("unknown_type", re.compile(r"^unknown type")),
    ("missing_field", re.compile(r"^missing field")),
    ("wrong_type", re.compile(r": expected an? \w+|must be an? (integer|string|list|object)")),
    ("too_large", re.compile(r"too large|\b(bytes|kib|mib)\b")),
    (
        "over_limit",
        re.compile(
            r"longer than|too many|at most|more than|less than|greater than|out of range"
            r"|must not be empty"
        ),
    ),
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def poison_category(reason: str) -> str:
    """The bounded category of a decoder `Poison.reason` (events/decode.py), for metric labels.

    The reason itself is free text (field names, values) and must never be a label.
    """
    first = reason.split("; ", 1)[0].strip().lower()
    if first.startswith("field 'occurred_at'"):  # every rule of the timestamp, wrong type too
        return "bad_timestamp"
    bare = _QUOTED.sub("''", first)
    for category, pattern in _RULES:
        if pattern.search(bare):
            return category
    return "other"


class ProjectorMetrics:
    """The projector's metrics; the runner calls the methods below at the named points."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events_applied = Counter(
            "custstats_events_applied_total",
            "Valid events written to the projection, by event type (duplicates included).",
            ["type"],
            registry=registry,
        )
        self.duplicates = Counter(
            "custstats_duplicates_total",
            "Events the fold found already applied (redelivered or replayed): no effect.",
            registry=registry,
        )
        self.poison = Counter(
            "custstats_poison_total",
            "Records that are not valid events (sent to the dead-letter topic), by category.",
            ["reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "custstats_partition_lag",
            "Records of the partition not yet applied (end offset - applied offset).",
            ["topic", "partition"],
            registry=registry,
        )
        self.applied_offset = Gauge(
            "custstats_partition_applied_offset",
            "Next offset to apply, as stored with the projection.",
            ["topic", "partition"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "custstats_batch_size_events",
            "Records (events and poison) per applied batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.write_latency = Histogram(
            "custstats_redis_write_duration_seconds",
            "Duration of one batch's atomic Redis write.",
            buckets=WRITE_BUCKETS,
            registry=registry,
        )
        self._servers(registry)
        self._rebuild(registry)
        for name in TYPE_NAMES:
            self.events_applied.labels(type=name)
        for category in POISON_CATEGORIES:
            self.poison.labels(reason=category)

    def _servers(self, registry: CollectorRegistry) -> None:
        self.errors = Counter(
            "custstats_server_errors_total",
            "Failed calls to a server (redis or kafka), each retried or reported.",
            ["server"],
            registry=registry,
        )
        self.retries = Counter(
            "custstats_server_retries_total",
            "Calls retried after a failure, by server.",
            ["server"],
            registry=registry,
        )
        self.outage = Gauge(
            "custstats_server_outage",
            "1 while the server is unreachable (the projector is retrying), else 0.",
            ["server"],
            registry=registry,
        )
        for server in SERVERS:
            self.errors.labels(server=server)
            self.retries.labels(server=server)
            self.outage.labels(server=server).set(0)
        self.last_batch = Gauge(
            "custstats_last_batch_timestamp_seconds",
            "Unix time at which the last batch was applied (0: none yet).",
            registry=registry,
        )

    def _rebuild(self, registry: CollectorRegistry) -> None:
        self.rebuild_progress = Gauge(
            "custstats_rebuild_progress_ratio",
            "Share of the topic a running rebuild has replayed (0..1).",
            registry=registry,
        )
        self.rebuild_phase = Gauge(
            "custstats_rebuild_phase",
            "1 for the rebuild phase this process is in, 0 for the others.",
            ["phase"],
            registry=registry,
        )
        self.set_rebuild_phase("idle")

    # -- called by the runner ------------------------------------------------------------

    def batch_applied(
        self,
        events: Iterable[Event],
        poison_reasons: Iterable[str] = (),
        write_seconds: float | None = None,
        duplicates: int = 0,
    ) -> None:
        """After a batch's write succeeded: its events, its poison and how long it took."""
        size = 0
        for name, count in Tally(event.type for event in events).items():
            self.events_applied.labels(type=name).inc(count)
            size += count
        for category, count in Tally(map(poison_category, poison_reasons)).items():
            self.poison.labels(reason=category).inc(count)
            size += count
        if duplicates:
            self.duplicates.inc(duplicates)
        self.batch_size.observe(size)
        if write_seconds is not None:
            self.write_latency.observe(write_seconds)
        self.last_batch.set(time.time())

    def offsets(self, topic: str, applied: Mapping[int, int], end: Mapping[int, int]) -> None:
        """Applied offsets of the owned partitions, and their lag against the end offsets."""
        for partition, offset in applied.items():
            labels = {"topic": topic, "partition": str(partition)}
            self.applied_offset.labels(**labels).set(offset)
            if partition in end:
                self.lag.labels(**labels).set(max(end[partition] - offset, 0))

    def forget_partitions(self, topic: str, partitions: Iterable[int]) -> None:
        """On revocation: another instance reports these now; a stale copy would double lag."""
        for partition in partitions:
            for gauge in (self.lag, self.applied_offset):
                with contextlib.suppress(KeyError):  # never reported by this instance
                    gauge.remove(topic, str(partition))

    def server_error(self, server: Server) -> None:
        """A call to the server failed: counted, and the server is reported as out."""
        self.errors.labels(server=server).inc()
        self.outage.labels(server=server).set(1)

    def server_retry(self, server: Server) -> None:
        self.retries.labels(server=server).inc()

    def server_ok(self, server: Server) -> None:
        """A call to the server succeeded: the outage (if any) is over."""
        self.outage.labels(server=server).set(0)

    def set_rebuild_phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown rebuild phase {phase!r} (expected one of {PHASES})")
        for name in PHASES:
            self.rebuild_phase.labels(phase=name).set(1 if name == phase else 0)
        if phase == "idle":
            self.rebuild_progress.set(0)

    def set_rebuild_progress(self, done: int, total: int) -> None:
        self.rebuild_progress.set(min(done / total, 1.0) if total > 0 else 0.0)


def serve(port: int, registry: CollectorRegistry, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve `registry` on http://addr:port/metrics from a daemon thread (port 0: any free).

    Returns the server: `server.server_port` is the bound port, `server.shutdown()` stops it.
    """
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server
