"""occurred_at exactly as SPEC §1 (issue 10 finding 9): RFC 3339 with offset or unix seconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.decode import Poison, decode
from tests.unit.test_decode import COMMON, LOST

LAST = 2**32 - 1  # 2106-02-07T06:28:15Z
LEAP = 1483228799  # 2016-12-31T23:59:59Z, the second before a real leap second


def occurred(value: Any) -> int | Poison:
    result = decode(json.dumps({**COMMON, **LOST, "occurred_at": value}).encode())
    return result if isinstance(result, Poison) else result.occurred_at


VALID: list[tuple[Any, int]] = [
    ("2023-03-30T14:41:18+08:00", 1680158478_000000),
    ("2023-03-30T06:41:18Z", 1680158478_000000),
    ("2023-03-30t06:41:18z", 1680158478_000000),
    ("2023-03-30T06:41:18z", 1680158478_000000),
    ("2023-03-30t06:41:18Z", 1680158478_000000),
    ("2023-03-30T06:41:18-00:00", 1680158478_000000),
    ("2023-03-30T06:41:18.25Z", 1680158478_250000),
    ("2023-03-30T06:41:18.1234567891234Z", 1680158478_123456),
    ("2023-03-31T06:40:18+23:59", 1680158478_000000),
    ("2023-03-29T06:42:18-23:59", 1680158478_000000),
    ("2024-02-29T00:00:00Z", 1709164800_000000),
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T08:00:00+08:00", 0),
    ("1969-12-31T19:00:00-05:00", 0),
    ("2106-02-07T06:28:15Z", LAST * 1_000_000),
    ("2106-02-07T14:28:15+08:00", LAST * 1_000_000),
    ("2016-12-31T23:59:60Z", LEAP * 1_000_000 + 999_999),
    ("2016-12-31T23:59:60.5Z", LEAP * 1_000_000 + 999_999),
    ("2017-01-01T07:59:60+08:00", LEAP * 1_000_000 + 999_999),
    (0, 0),
    (LAST, LAST * 1_000_000),
]


@pytest.mark.parametrize(("value", "micros"), VALID, ids=[str(v) for v, _ in VALID])
def test_rfc3339_with_offset_and_unix_seconds_are_valid(value: Any, micros: int) -> None:
    assert occurred(value) == micros


INVALID: list[tuple[Any, str]] = [
    ("2024-06-01T10:00+08:00", "not an RFC 3339"),  # no seconds
    ("2024-06-01T10:00:00+0800", "not an RFC 3339"),
    ("2024-06-01T10:00:00+08", "not an RFC 3339"),
    ("2024-06-01T10:00:00+08:00:30", "not an RFC 3339"),
    ("2024-06-01T10:00:00", "without offset"),
    ("2024-06-01T10:00:00.250", "without offset"),
    ("2024-06-01", "not an RFC 3339"),
    ("2024-W22-6T10:00:00Z", "not an RFC 3339"),  # week date
    ("2024-153T10:00:00Z", "not an RFC 3339"),  # ordinal date
    ("20240601T100000Z", "not an RFC 3339"),  # basic format
    ("2024-06-01T100000Z", "not an RFC 3339"),
    ("2024-06-01 10:00:00Z", "not an RFC 3339"),  # space: RFC 3339 §5.6 NOTE, not the contract
    ("2024-06-01_10:00:00Z", "not an RFC 3339"),
    ("2024-06-01T10:00:00,5Z", "not an RFC 3339"),  # decimal comma
    ("2024-06-01T10:00:00.Z", "not an RFC 3339"),  # empty fraction
    ("2024-06-01T10:00:00 Z", "not an RFC 3339"),
    (" 2024-06-01T10:00:00Z", "not an RFC 3339"),
    ("2024-06-01T10:00:00Z\n", "not an RFC 3339"),
    ("2024-6-01T10:00:00Z", "not an RFC 3339"),
    ("+2024-06-01T10:00:00Z", "not an RFC 3339"),
    ("２０２４-06-01T10:00:00Z", "not an RFC 3339"),  # full-width digits
    ("2024-06-01T10:00:00+08:00[Asia/Shanghai]", "not an RFC 3339"),
    ("2024-06-01T10:00:00UTC", "not an RFC 3339"),
    ("2024-06-01T24:00:00Z", "not an RFC 3339"),
    ("2024-06-01T10:00:00+24:00", "not an RFC 3339"),  # offsets stop at ±23:59
    ("2024-06-01T10:00:00+08:60", "not an RFC 3339"),
    ("2024-13-01T10:00:00Z", "not an RFC 3339"),
    ("2024-02-30T00:00:00Z", "not a date"),
    ("2023-02-29T00:00:00Z", "not a date"),
    ("2024-04-31T00:00:00Z", "not a date"),
    ("2016-12-31T12:59:60Z", "leap second"),  # second 60 only at 23:59 UTC
    ("2016-12-31T23:59:60+08:00", "leap second"),
    ("1969-12-31T23:59:59Z", "out of range"),
    ("1970-01-01T07:59:59+08:00", "out of range"),
    ("2106-02-07T06:28:15.000001Z", "out of range"),
    ("2106-02-07T06:28:16Z", "out of range"),
    ("0001-01-01T00:00:00Z", "out of range"),
    ("9999-12-31T23:59:59Z", "out of range"),
    ("", "not an RFC 3339"),
    ("1680158478", "not an RFC 3339"),
    (-1, "out of range"),
    (LAST + 1, "out of range"),
    (2**64, "out of range"),
    (True, "must be an RFC 3339 string"),
    (False, "must be an RFC 3339 string"),
    (1680158478.0, "must be an RFC 3339 string"),
    (None, "must be an RFC 3339 string"),
    ([1680158478], "must be an RFC 3339 string"),
]


@pytest.mark.parametrize(("value", "reason"), INVALID, ids=[repr(v) for v, _ in INVALID])
def test_other_spellings_and_instants_outside_the_range_are_poison(value: Any, reason: str) -> None:
    result = occurred(value)
    assert isinstance(result, Poison), result
    assert result.reason.startswith("field 'occurred_at': "), result.reason
    assert reason in result.reason


ZONES = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2106, 2, 6), timezones=st.just(UTC)
)


@given(INSTANTS, ZONES, st.sampled_from(["seconds", "milliseconds", "microseconds"]))
def test_any_instant_at_any_offset_is_read_exactly(
    instant: datetime, zone: timezone, precision: str
) -> None:
    text = instant.astimezone(zone).isoformat(timespec=precision)
    expected = (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    if precision == "seconds":
        expected -= expected % 1_000_000
    elif precision == "milliseconds":
        expected -= expected % 1_000
    assert occurred(text) == expected
    assert occurred(text.replace("T", "t").replace("+00:00", "z")) == expected
