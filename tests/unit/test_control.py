"""Table tests of the control rules every reader and writer shares (projector/control.py)."""

from __future__ import annotations

import pytest

from projector import control
from projector.layout import Layout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("25", 25),
        ("999999999999999999", 10**18 - 1),
        ("1000000000000000000", 10**18),  # refused before: valid per SPEC §1
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("99999999999999999999", None),
        ("0", None),
        ("00", None),
        ("-1", None),
        ("+1", None),
        ("1.0", None),
        ("", None),
        (" 1", None),
        ("١٢", None),  # Arabic-Indic digits are digits to str.isdigit, not to a URL
        ("0" * 30 + "1", None),
    ],
)
def test_parse_tenant_id(text: str, expected: int | None) -> None:
    assert control.parse_tenant_id(text) == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, None),
        ({b"current": b"3"}, Layout("p", 3)),
        ({b"current": b"3", b"rebuild": b"4", b"epoch": b"2"}, Layout("p", 3)),
        (
            {b"current": b"3", b"tenant:25": b"5", b"tenant:7": b"4", b"rebuild:9": b"6"},
            Layout("p", 3, ((7, 4), (25, 5))),
        ),
        ({b"tenant:25": b"5"}, None),
    ],
)
def test_live_layout(stored: dict[bytes, bytes], expected: Layout | None) -> None:
    assert control.live_layout("p", stored) == expected


@pytest.mark.parametrize(
    ("marks", "ready", "caught_up", "partitions", "reason"),
    [
        ({}, False, 0, 0, "the projector has not caught up with the topic yet"),
        ({b"0": b"1"}, False, 1, 0, "the projector has not caught up with the topic yet"),
        ({b"partitions": b"4"}, False, 0, 4, "catching up: 0 of 4 partitions done"),
        ({b"partitions": b"2", b"0": b"1"}, False, 1, 2, "catching up: 1 of 2 partitions done"),
        ({b"partitions": b"2", b"0": b"1", b"1": b"1"}, True, 2, 2, "caught up"),
    ],
)
def test_readiness(
    marks: dict[bytes, bytes], ready: bool, caught_up: int, partitions: int, reason: str
) -> None:
    verdict = control.readiness(marks)
    assert (verdict.ready, verdict.caught_up, verdict.partitions) == (ready, caught_up, partitions)
    assert verdict.reason == reason
    assert marks == dict(marks)  # not consumed


@pytest.mark.parametrize(
    ("raw", "seen", "mode", "on"),
    [
        (None, False, "auto", False),
        (None, True, "auto", True),
        (b"auto", True, "auto", True),
        (b"on", False, "on", True),
        (b"off", True, "off", False),
        ("off", True, "off", False),
        (b"maybe", True, "auto", True),
    ],
)
def test_opportunity(raw: bytes | str | None, seen: bool, mode: str, on: bool) -> None:
    assert control.opportunity_mode(raw) == mode
    assert control.opportunity_on(control.opportunity_mode(raw), seen) is on


def test_api_key_digest_and_check() -> None:
    digest = control.api_key_digest("s3cret")
    assert digest == "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"
    assert control.api_key_accepts(None, "")
    assert control.api_key_accepts(digest.encode(), "s3cret")
    assert not control.api_key_accepts(digest.encode(), "s3cret ")
    assert not control.api_key_accepts(digest.encode(), "")


def test_field_names() -> None:
    assert control.tenant_field(25) == "tenant:25"
    assert control.tenant_rebuild_field(25) == "rebuild:25"
    assert control.REBUILD_PROGRESS == ("rebuild_done", "rebuild_total", "rebuild_started")


# --- freshness and completeness (SPEC §3) ---------------------------------------------------


def test_fresh_key_and_fields() -> None:
    layout = Layout("p", 7)
    assert layout.fresh_key == "p:v7:fresh"
    assert (control.end_field(3), control.target_field(3)) == ("end:3", "target:3")


def test_freshness_parses_the_hash() -> None:
    raw = {
        b"end:0": b"10",
        b"end:1": b"5",
        b"target:0": b"8",
        b"applied_at": b"1700000000000",
        b"unknown": b"x",
    }
    fresh = control.freshness(raw)
    assert fresh.ends == {0: 10, 1: 5}
    assert fresh.targets == {0: 8}
    assert fresh.applied_at_ms == 1_700_000_000_000
    assert control.freshness({}) == control.Freshness({}, {}, None)


@pytest.mark.parametrize(
    ("offsets", "ends", "per_partition", "total"),
    [
        ({}, {}, {}, 0),
        ({0: 5}, {}, {}, 0),  # no end known: nothing to say
        ({0: 5}, {0: 5}, {0: 0}, 0),
        ({0: 5}, {0: 9}, {0: 4}, 4),
        ({0: 9}, {0: 5}, {0: 0}, 0),  # Tansu's end can trail what was read
        ({}, {0: 7, 1: 3}, {0: 7, 1: 3}, 10),  # never applied: the whole partition
        ({0: 2, 1: 3}, {0: 7, 1: 3}, {0: 5, 1: 0}, 5),
    ],
)
def test_lag(
    offsets: dict[int, int], ends: dict[int, int], per_partition: dict[int, int], total: int
) -> None:
    assert control.partition_lags(offsets, ends) == per_partition
    assert control.lag(offsets, ends) == total


COMPLETE_MARKS = {b"partitions": b"2", b"0": b"1", b"1": b"1"}


@pytest.mark.parametrize(
    ("marks", "offsets", "targets", "complete", "percent"),
    [
        ({}, {}, {}, False, 0),  # nothing known
        (COMPLETE_MARKS, {}, {}, True, 100),  # an old deployment whose marks exist
        (COMPLETE_MARKS, {0: 1}, {0: 50, 1: 50}, True, 100),  # marks decide
        ({}, {}, {0: 100, 1: 100}, False, 0),
        ({}, {0: 100}, {0: 100, 1: 100}, False, 50),
        ({}, {0: 150, 1: 1}, {0: 100, 1: 100}, False, 50),  # past a target counts the target
        ({}, {0: 2}, {0: 3}, False, 66),  # floored
        ({}, {0: 100, 1: 100}, {0: 100, 1: 100}, False, 99),  # marks not written yet
        ({b"partitions": b"2", b"0": b"1"}, {0: 5}, {0: 5, 1: 5}, False, 50),
        ({}, {0: 5}, {0: 0}, False, 0),
    ],
)
def test_completeness(
    marks: dict[bytes, bytes],
    offsets: dict[int, int],
    targets: dict[int, int],
    complete: bool,
    percent: int,
) -> None:
    assert control.completeness(marks, offsets, targets) == control.Completeness(complete, percent)


@pytest.mark.parametrize(
    ("applied", "target", "complete"),
    [
        (None, None, False),
        (5, None, False),
        (None, 0, False),
        (4, 5, False),
        (5, 5, True),
        (6, 5, True),
    ],
)
def test_partition_complete(applied: int | None, target: int | None, complete: bool) -> None:
    assert control.partition_complete(applied, target) is complete


@pytest.mark.parametrize(
    ("complete", "lags", "restored", "ready", "reason"),
    [
        (True, {0: 0, 1: 10}, True, True, "ready"),
        (True, {}, True, True, "ready"),
        (True, {0: 10}, True, True, "ready"),  # at the bound is within it
        (False, {0: 0}, True, False, "the projection is being rebuilt from the log"),
        (False, {0: 0}, False, False, "the projection is being rebuilt from the log"),
        (True, {0: 0}, False, False, "operator settings are being restored from the config topic"),
        (True, {0: 11, 1: 0}, True, False, "partition 0 is 11 records behind (bound 10)"),
        (
            True,
            {0: 11, 1: 40, 2: 12},
            True,
            False,
            "partition 1 is 40 records behind (bound 10), 2 more partitions over it",
        ),
    ],
)
def test_ready_verdict(
    complete: bool, lags: dict[int, int], restored: bool, ready: bool, reason: str
) -> None:
    assert control.ready_verdict(complete, lags, 10, restored) == (ready, reason)


@pytest.mark.parametrize(
    ("heartbeat", "now", "stale"),
    [(None, 100.0, True), (100.0, 100.0, False), (100.0, 130.0, False), (100.0, 130.5, True)],
)
def test_rebuild_stale(heartbeat: float | None, now: float, stale: bool) -> None:
    assert control.rebuild_stale(heartbeat, now, 30.0) is stale
    assert control.REBUILD_HEARTBEAT in control.REBUILD_FIELDS
