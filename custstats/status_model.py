"""What `custstats status` reports, as plain data: the JSON shape and the pure rules behind it.

`status --json` prints a `Status`; `--check` answers with `verdict()`. No I/O here:
`custstats.status` reads the servers, `custstats.status_render` writes the text.
"""

from __future__ import annotations

from typing import Any, TypedDict

from projector import control


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
    stale: bool


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
    config_restored: bool
    tenants: list[dict[str, Any]]


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
    verdict = control.readiness(marks)
    return {
        "ready": verdict.ready,
        "caught_up": verdict.caught_up,
        "partitions": verdict.partitions,
    }


def optional_int(raw: bytes | None) -> int | None:
    return None if raw is None else int(raw)


def rebuild_status(stored: dict[bytes, bytes], now: float) -> RebuildStatus | None:
    """The rebuild in progress according to the control hash, or None. It is stale when its
    heartbeat stopped (`control.rebuild_stale`): the control hash still names it, but no
    process is filling it any more (killed, or failed)."""
    version = optional_int(stored.get(control.REBUILD.encode()))
    if version is None:
        return None
    done = optional_int(stored.get(control.REBUILD_DONE.encode()))
    total = optional_int(stored.get(control.REBUILD_TOTAL.encode()))
    started = optional_int(stored.get(control.REBUILD_STARTED.encode()))
    heartbeat = control.REBUILD_HEARTBEAT.encode()
    return {
        "version": version,
        "done": done,
        "total": total,
        "percent": round(100 * done / total, 1) if done is not None and total else None,
        "started": started,
        "started_ago_s": None if started is None else max(0, int(now) - started),
        "stale": control.rebuild_stale(optional_int(stored.get(heartbeat)), now),
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
        return False, ready_text(ready)
    if status["lag"] > 0:
        return False, f"ready, but {status['lag']} records behind"
    return True, "ready, lag 0"


def ready_text(ready: Readiness) -> str:
    if ready["ready"]:
        return f"yes ({ready['caught_up']} of {ready['partitions']} partitions caught up)"
    if ready["partitions"] == 0:
        return "no: the projector has not caught up with the topic yet"
    return f"no: catching up ({ready['caught_up']} of {ready['partitions']} partitions done)"
