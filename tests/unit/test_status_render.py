"""`custstats status` without servers: lag arithmetic, readiness, rebuild progress, the text."""

from __future__ import annotations

from typing import Any

import pytest

from custstats.status_model import (
    PartitionStatus,
    Status,
    partition_row,
    readiness,
    rebuild_status,
    verdict,
)
from custstats.status_render import ago, render
from projector.control import REBUILD_STALE_AFTER


def tenant(tenant_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tenant_id": tenant_id,
        "known": True,
        "registered": False,
        "projected": True,
        "events": 0,
        "duplicates": 0,
        "employees": 0,
        "opportunity": {"mode": "auto", "effective": False},
        "api_key": False,
        "version": 3,
    }
    return base | fields


def status(**fields: Any) -> Status:
    partitions = [partition_row(0, 0, 1200, 1200), partition_row(1, 100, 1180, 1175)]
    base: Status = {
        "topic": "customer-events",
        "key_prefix": "custstats",
        "topic_found": True,
        "projection": {"version": 3, "format": 1, "format_expected": 1},
        "ready": {"ready": True, "caught_up": 2, "partitions": 2},
        "rebuild": None,
        "partitions": partitions,
        "lag": sum(row["lag"] for row in partitions),
        "dead_letters": 2,
        "config_restored": True,
        "tenants": [
            tenant(
                25,
                events=1203,
                duplicates=4,
                employees=12,
                opportunity={"mode": "auto", "effective": True},
            ),
            tenant(
                7,
                registered=True,
                projected=False,
                api_key=True,
                opportunity={"mode": "off", "effective": False},
            ),
        ],
    }
    return base | fields  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("beginning", "end", "applied", "shown_end", "lag"),
    [
        (0, 1200, 1200, 1200, 0),  # caught up
        (0, 1200, 1000, 1200, 200),  # behind
        (0, 1200, None, 1200, 1200),  # nothing applied yet: everything is lag
        (500, 1200, None, 1200, 700),  # retention removed records before 500: no lag
        (500, 1200, 300, 1200, 700),  # applied before the retained start: reads from 500
        (0, 990, 1000, 1000, 0),  # the broker's end trails (Tansu): never negative
        (0, 0, None, 0, 0),  # empty partition
    ],
)
def test_lag_is_end_minus_applied_and_never_negative(
    beginning: int, end: int, applied: int | None, shown_end: int, lag: int
) -> None:
    row: PartitionStatus = partition_row(3, beginning, end, applied)
    assert row == {
        "partition": 3,
        "beginning": beginning,
        "end": shown_end,
        "applied": applied,
        "lag": lag,
    }


@pytest.mark.parametrize(
    ("marks", "ready", "caught_up", "partitions"),
    [
        ({}, False, 0, 0),
        ({b"partitions": b"4", b"0": b"1", b"2": b"1"}, False, 2, 4),
        ({b"partitions": b"2", b"0": b"1", b"1": b"1"}, True, 2, 2),
    ],
)
def test_readiness_needs_every_partition_caught_up_once(
    marks: dict[bytes, bytes], ready: bool, caught_up: int, partitions: int
) -> None:
    assert readiness(marks) == {"ready": ready, "caught_up": caught_up, "partitions": partitions}


def test_rebuild_progress_from_the_control_hash() -> None:
    control = {
        b"current": b"3",
        b"rebuild": b"4",
        b"rebuild_done": b"1200",
        b"rebuild_total": b"2380",
        b"rebuild_started": b"1000",
        b"rebuild_heartbeat": b"1190",
    }
    assert rebuild_status(control, now=1192.7) == {
        "version": 4,
        "done": 1200,
        "total": 2380,
        "percent": 50.4,
        "started": 1000,
        "started_ago_s": 192,
        "stale": False,
    }
    later = rebuild_status(control, now=1190 + REBUILD_STALE_AFTER + 1)
    assert later is not None and later["stale"] is True  # the heartbeat stopped
    without = rebuild_status({b"rebuild": b"4"}, now=5.0)
    assert without is not None and without["stale"] is True  # no process ever beat
    assert rebuild_status({b"current": b"3"}, now=5.0) is None
    just_started = rebuild_status({b"rebuild": b"4", b"rebuild_total": b"0"}, now=5.0)
    assert just_started is not None
    assert just_started["percent"] is None  # an empty topic is no division by zero


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (192, "3m12s"), (3600, "1h00m"), (7500, "2h05m"), (277_200, "3d05h")],
)
def test_durations_read_like_an_operator_writes_them(seconds: int, text: str) -> None:
    assert ago(seconds) == text


def test_human_report_is_an_aligned_summary_and_two_tables() -> None:
    text = render(status())
    assert text.splitlines() == [
        "topic         customer-events (2 partitions)",
        "key prefix    custstats",
        "projection    v3, format 1",
        "ready         yes (2 of 2 partitions caught up)",
        "rebuild       none",
        "lag           5",
        "dead letters  2",
        "settings      restored from customer-events.config",
        "tenants       2",
        "",
        "partition  begin   end  applied  lag",
        "        0      0  1200     1200    0",
        "        1    100  1180     1175    5",
        "    total         2380             5",
        "",
        "tenant  events  duplicates  employees  opportunity  registered  api key",
        "    25    1203           4         12  on (auto)    no          -",
        "     7       0           0          0  off (set)    yes         set",
    ]


def test_report_of_a_deployment_before_any_projector_ran() -> None:
    empty = status(
        projection=None,
        ready={"ready": False, "caught_up": 0, "partitions": 0},
        partitions=[partition_row(0, 0, 0, None)],
        lag=0,
        dead_letters=0,
        tenants=[],
    )
    text = render(empty)
    assert "projection    none yet (no projector has run)" in text
    assert "ready         no: the projector has not caught up with the topic yet" in text
    assert "tenants       0" in text
    assert "tenant  events" not in text  # no empty table header
    assert "        0      0    0        -    0" in text


def test_report_shows_a_rebuild_in_progress_and_a_format_to_rebuild() -> None:
    text = render(
        status(
            projection={"version": 3, "format": 0, "format_expected": 1},
            rebuild={
                "version": 4,
                "done": 1200,
                "total": 2380,
                "percent": 50.4,
                "started": 1000,
                "started_ago_s": 192,
                "stale": False,
            },
        )
    )
    assert "projection    v3, format 0 (this code writes 1: needs a rebuild)" in text
    assert "rebuild       v4: 1200/2380 (50.4%), started 3m12s ago" in text
    starting = render(
        status(
            rebuild={
                "version": 4,
                "done": None,
                "total": None,
                "percent": None,
                "started": 1000,
                "started_ago_s": 2,
                "stale": False,
            }
        )
    )
    assert "rebuild       v4: starting, started 2s ago" in starting


def test_a_rebuild_nobody_runs_is_shown_stale() -> None:
    text = render(
        status(
            rebuild={
                "version": 4,
                "done": None,
                "total": None,
                "percent": None,
                "started": 1000,
                "started_ago_s": 3600,
                "stale": True,
            }
        )
    )
    assert (
        "rebuild       v4, started 1h00m ago - STALE: no rebuild process is running (it stopped); "
        "`custstats rebuild` resumes it"
    ) in text.splitlines()


def test_settings_being_restored_are_said() -> None:
    text = render(status(config_restored=False))
    assert "settings      being restored from customer-events.config" in text


def test_missing_topic_is_said_and_has_no_partition_table() -> None:
    text = render(status(topic_found=False, partitions=[], lag=0))
    assert "topic         customer-events (not found on the broker)" in text
    assert "partition  begin" not in text


@pytest.mark.parametrize(
    ("fields", "healthy", "why"),
    [
        ({"lag": 0, "partitions": []}, True, "ready, lag 0"),
        ({}, False, "ready, but 5 records behind"),
        ({"projection": None, "lag": 0}, False, "no projection yet (no projector has run)"),
        (
            {"ready": {"ready": False, "caught_up": 1, "partitions": 2}, "lag": 0},
            False,
            "no: catching up (1 of 2 partitions done)",
        ),
        (
            {"projection": {"version": 3, "format": 0, "format_expected": 1}, "lag": 0},
            False,
            "projection v3 has format 0, this code writes 1",
        ),
        (
            {"topic_found": False, "partitions": [], "lag": 0},
            False,
            "topic 'customer-events' not found on the broker",
        ),
    ],
)
def test_check_passes_only_when_ready_current_format_and_no_lag(
    fields: dict[str, Any], healthy: bool, why: str
) -> None:
    assert verdict(status(**fields)) == (healthy, why)
