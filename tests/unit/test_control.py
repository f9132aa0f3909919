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
