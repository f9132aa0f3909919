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
from typing import Any

import redis

from custstats.connect import open_redis
from custstats.errors import Unavailable
from custstats.settings import Settings
from custstats.status_model import (
    Status,
    optional_int,
    partition_row,
    readiness,
    rebuild_status,
    verdict,
)
from custstats.status_render import render
from custstats.tenant_info import all_tenant_ids, current_version, read_tenants
from projector.layout import ControlLayout
from projector.versions import PROJECTION_FORMAT

KAFKA_TIMEOUT_S = 10
"""How long an unreachable broker may take to say so."""


def _read_redis(client: redis.Redis, settings: Settings, now: float) -> dict[str, Any]:
    prefix, topic = settings.key_prefix, settings.topic
    stored: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    layout = current_version(client, prefix)
    found: dict[str, Any] = {
        "projection": None,
        "applied": {},
        "marks": {},
        "dead_letters": 0,
        "rebuild": rebuild_status(stored, now),
    }
    if layout is not None:
        with client.pipeline(transaction=False) as pipe:
            pipe.get(layout.format_key)
            pipe.hgetall(layout.offsets(topic))
            pipe.hgetall(layout.ready_key)
            pipe.hget(layout.dead_letters(topic), "count")
            written, offsets, marks, dead = pipe.execute()
        found |= {
            "projection": {
                "version": layout.version,
                "format": optional_int(written),
                "format_expected": PROJECTION_FORMAT,
            },
            "applied": {int(partition): int(offset) for partition, offset in offsets.items()},
            "marks": marks,
            "dead_letters": optional_int(dead) or 0,
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
