"""`custstats status [--json] [--check]`: where the projection stands against the topic.

Read only: it never creates a projection version or any other key, so it is safe
to run against a deployment at any time. Redis is read first, then Kafka (a
consumer without a group, so it joins nothing); each has a bounded wait and an
unreachable server ends the command with exit 2 and one line on stderr.

The lag of a partition is end offset - applied offset, where applied is the next
offset the current projection will read (the beginning offset when it has none
yet). Tansu reports as end the base offset of the partition's last record batch
+ 1, which trails the true end by the rest of that batch; so the end shown is
the larger of the broker's and the applied offset (records up to the applied one
demonstrably exist) and lag is never negative, but it can under-count by up to
one producer batch per partition on Tansu.

`--check` answers with the exit code, for scripts: 0 when the current projection
is ready (every partition caught up once), has the format this code writes and
its total lag is 0; 1 otherwise; 2 when a server is unreachable.

`--json` prints one object:

    {"topic": "customer-events", "key_prefix": "custstats", "topic_found": true,
     "projection": {"version": 3, "format": 1, "format_expected": 1} | null,
     "ready": {"ready": true, "caught_up": 4, "partitions": 4},
     "rebuild": null | {"version": 4, "done": 1200, "total": 2380, "percent": 50.4,
                        "started": 1767000000, "started_ago_s": 192},
     "partitions": [{"partition": 0, "beginning": 0, "end": 600, "applied": 600, "lag": 0}],
     "lag": 0, "dead_letters": 2,
     "tenants": [<the object of `custstats tenant show --json`>, ...]}

`projection` is null before any projector ran (then `applied` is null too);
`rebuild` fields other than `version` are null until the rebuild reports them;
`partitions` is empty when the topic does not exist.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, TypedDict

import redis

from custstats.settings import Settings
from custstats.tenant import (
    Unavailable,
    all_tenant_ids,
    current_version,
    open_redis,
    read_tenants,
)
from projector.layout import ControlLayout
from projector.versions import PROJECTION_FORMAT, REBUILD, format_key, ready_key

KAFKA_TIMEOUT_S = 10
"""How long an unreachable broker may take to say so."""


class ProjectionStatus(TypedDict):
    version: int
    format: int | None
    format_expected: int


class Readiness(TypedDict):
    ready: bool
    caught_up: int
    partitions: int


class RebuildStatus(TypedDict):
    version: int
    done: int | None
    total: int | None
    percent: float | None
    started: int | None
    started_ago_s: int | None


class PartitionStatus(TypedDict):
    partition: int
    beginning: int
    end: int
    applied: int | None
    lag: int


class Status(TypedDict):
    topic: str
    key_prefix: str
    topic_found: bool
    projection: ProjectionStatus | None
    ready: Readiness
    rebuild: RebuildStatus | None
    partitions: list[PartitionStatus]
    lag: int
    dead_letters: int
    tenants: list[dict[str, Any]]


# --- pure parts ---------------------------------------------------------------------------


def partition_row(partition: int, beginning: int, end: int, applied: int | None) -> PartitionStatus:
    """One partition's line; records before `beginning` are gone, so they are no lag."""
    position = beginning if applied is None else max(applied, beginning)
    end = max(end, position)  # a trailing reported end (Tansu) is no negative lag
    return {
        "partition": partition,
        "beginning": beginning,
        "end": end,
        "applied": applied,
        "lag": end - position,
    }


def readiness(marks: dict[bytes, bytes]) -> Readiness:
    """The ready hash as the API's /readyz reads it: every partition caught up once."""
    rest = dict(marks)
    partitions = int(rest.pop(b"partitions", b"0"))
    return {
        "ready": partitions > 0 and len(rest) >= partitions,
        "caught_up": len(rest),
        "partitions": partitions,
    }


def _optional_int(raw: bytes | None) -> int | None:
    return None if raw is None else int(raw)


def rebuild_status(control: dict[bytes, bytes], now: float) -> RebuildStatus | None:
    """The rebuild in progress according to the control hash, or None."""
    version = _optional_int(control.get(REBUILD.encode()))
    if version is None:
        return None
    done = _optional_int(control.get(b"rebuild_done"))
    total = _optional_int(control.get(b"rebuild_total"))
    started = _optional_int(control.get(b"rebuild_started"))
    return {
        "version": version,
        "done": done,
        "total": total,
        "percent": round(100 * done / total, 1) if done is not None and total else None,
        "started": started,
        "started_ago_s": None if started is None else max(0, int(now) - started),
    }


def verdict(status: Status) -> tuple[bool, str]:
    """What `--check` answers: (healthy, why)."""
    projection = status["projection"]
    if projection is None:
        return False, "no projection yet (no projector has run)"
    if projection["format"] != projection["format_expected"]:
        return False, (
            f"projection v{projection['version']} has format {projection['format']}, "
            f"this code writes {projection['format_expected']}"
        )
    if not status["topic_found"]:
        return False, f"topic {status['topic']!r} not found on the broker"
    ready = status["ready"]
    if not ready["ready"]:
        return False, _ready_text(ready)
    if status["lag"] > 0:
        return False, f"ready, but {status['lag']} records behind"
    return True, "ready, lag 0"


def ago(seconds: int) -> str:
    """A duration as an operator reads it: 45s, 3m12s, 2h05m, 3d04h."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _ready_text(ready: Readiness) -> str:
    if ready["ready"]:
        return f"yes ({ready['caught_up']} of {ready['partitions']} partitions caught up)"
    if ready["partitions"] == 0:
        return "no: the projector has not caught up with the topic yet"
    return f"no: catching up ({ready['caught_up']} of {ready['partitions']} partitions done)"


def _rebuild_text(rebuild: RebuildStatus | None) -> str:
    if rebuild is None:
        return "none"
    text = f"v{rebuild['version']}"
    if rebuild["done"] is not None and rebuild["total"] is not None:
        text += f": {rebuild['done']}/{rebuild['total']}"
        if rebuild["percent"] is not None:
            text += f" ({rebuild['percent']:.1f}%)"
    else:
        text += ": starting"
    if rebuild["started_ago_s"] is not None:
        text += f", started {ago(rebuild['started_ago_s'])} ago"
    return text


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> list[str]:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if flush_right else cell.ljust(width)
            for cell, width, flush_right in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]


def _opportunity_text(tenant: dict[str, Any]) -> str:
    plugin = tenant["opportunity"]
    state = "on" if plugin["effective"] else "off"
    return f"{state} (auto)" if plugin["mode"] == "auto" else f"{state} (set)"


def render(status: Status) -> str:
    """The human report: a summary, then one table of partitions and one of tenants."""
    projection = status["projection"]
    if projection is None:
        version = "none yet (no projector has run)"
    else:
        version = f"v{projection['version']}, format {projection['format']}"
        if projection["format"] != projection["format_expected"]:
            version += f" (this code writes {projection['format_expected']}: needs a rebuild)"
    partitions = status["partitions"]
    if status["topic_found"]:
        topic = f"{status['topic']} ({len(partitions)} partitions)"
    else:
        topic = f"{status['topic']} (not found on the broker)"
    lines = [
        f"topic         {topic}",
        f"key prefix    {status['key_prefix']}",
        f"projection    {version}",
        f"ready         {_ready_text(status['ready'])}",
        f"rebuild       {_rebuild_text(status['rebuild'])}",
        f"lag           {status['lag']}",
        f"dead letters  {status['dead_letters']}",
        f"tenants       {len(status['tenants'])}",
    ]
    if partitions:
        rows = [
            [
                str(row["partition"]),
                str(row["beginning"]),
                str(row["end"]),
                "-" if row["applied"] is None else str(row["applied"]),
                str(row["lag"]),
            ]
            for row in partitions
        ]
        rows.append(
            ["total", "", str(sum(row["end"] for row in partitions)), "", str(status["lag"])]
        )
        lines += ["", *_table(["partition", "begin", "end", "applied", "lag"], rows, [True] * 5)]
    tenants = status["tenants"]
    if tenants:
        rows = [
            [
                str(tenant["tenant_id"]),
                str(tenant["events"]),
                str(tenant["duplicates"]),
                str(tenant["employees"]),
                _opportunity_text(tenant),
                "yes" if tenant["registered"] else "no",
                "set" if tenant["api_key"] else "-",
            ]
            for tenant in tenants
        ]
        header = ["tenant", "events", "duplicates", "employees", "opportunity", "registered"]
        right = [True, True, True, True, False, False, False]
        lines += ["", *_table([*header, "api key"], rows, right)]
    return "\n".join(lines)


# --- reading ------------------------------------------------------------------------------


def _read_redis(client: redis.Redis, settings: Settings, now: float) -> dict[str, Any]:
    prefix, topic = settings.key_prefix, settings.topic
    control: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    layout = current_version(client, prefix)
    found: dict[str, Any] = {
        "projection": None,
        "applied": {},
        "marks": {},
        "dead_letters": 0,
        "rebuild": rebuild_status(control, now),
    }
    if layout is not None:
        with client.pipeline(transaction=False) as pipe:
            pipe.get(format_key(layout))
            pipe.hgetall(layout.offsets(topic))
            pipe.hgetall(ready_key(layout))
            pipe.hget(layout.dead_letters(topic), "count")
            written, offsets, marks, dead = pipe.execute()
        found |= {
            "projection": {
                "version": layout.version,
                "format": _optional_int(written),
                "format_expected": PROJECTION_FORMAT,
            },
            "applied": {int(partition): int(offset) for partition, offset in offsets.items()},
            "marks": marks,
            "dead_letters": _optional_int(dead) or 0,
        }
    ids = all_tenant_ids(client, prefix, layout)
    found["tenants"] = [info.as_json() for info in read_tenants(client, prefix, layout, ids)]
    return found


def topic_offsets(settings: Settings) -> dict[int, tuple[int, int]] | None:
    """partition -> (beginning, end) of the topic; None when the broker does not have it."""
    from kafka import KafkaConsumer, TopicPartition  # slow import: only status needs it here
    from kafka.errors import KafkaError

    servers = ",".join(settings.kafka_servers())
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_servers(),
            client_id="custstats-status",
            enable_auto_commit=False,
            allow_auto_create_topics=False,
            bootstrap_timeout_ms=KAFKA_TIMEOUT_S * 1000,
            request_timeout_ms=KAFKA_TIMEOUT_S * 1000,
        )
    except (KafkaError, OSError, ValueError) as exc:
        raise Unavailable(
            f"cannot reach Kafka at {servers} within {KAFKA_TIMEOUT_S} s: {exc}"
        ) from exc
    try:
        partitions = consumer.partitions_for_topic(settings.topic)
        if not partitions:
            return None
        assigned = [TopicPartition(settings.topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(assigned)
        beginnings = consumer.beginning_offsets(assigned)
    except (KafkaError, OSError) as exc:
        raise Unavailable(
            f"Kafka at {servers} did not answer for {settings.topic!r}: {exc}"
        ) from exc
    finally:
        consumer.close()
    return {tp.partition: (int(beginnings[tp]), int(ends[tp])) for tp in assigned}


def collect(settings: Settings) -> Status:
    """Everything `status` shows; Unavailable when Redis or Kafka cannot be reached."""
    client = open_redis(settings)
    try:
        stored = _read_redis(client, settings, time.time())
    except redis.RedisError as exc:
        raise Unavailable(f"Redis failed while reading: {exc}") from exc
    finally:
        client.close()
    offsets = topic_offsets(settings)
    partitions = [
        partition_row(partition, beginning, end, stored["applied"].get(partition))
        for partition, (beginning, end) in sorted((offsets or {}).items())
    ]
    return {
        "topic": settings.topic,
        "key_prefix": settings.key_prefix,
        "topic_found": offsets is not None,
        "projection": stored["projection"],
        "ready": readiness(stored["marks"]),
        "rebuild": stored["rebuild"],
        "partitions": partitions,
        "lag": sum(row["lag"] for row in partitions),
        "dead_letters": stored["dead_letters"],
        "tenants": stored["tenants"],
    }


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: topic, projection, ready, rebuild, partitions, lag, "
        "dead_letters, tenants",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when ready with lag 0, else 1; prints one line (or the JSON with --json)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not getattr(args, "verbose", False):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # our one line says it better
    try:
        status = collect(settings)
    except Unavailable as exc:
        print(f"custstats status: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("custstats status: interrupted", file=sys.stderr)
        return 130
    healthy, why = verdict(status)
    if args.json:
        print(json.dumps(status, indent=2))
    elif args.check:
        print(f"{'ok' if healthy else 'not ok'}: {why}")
    else:
        print(render(status))
    if args.check:
        return 0 if healthy else 1
    return 0
