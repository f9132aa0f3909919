"""`occurred_at` exactly as SPEC §1 says: RFC 3339 with an offset, or int unix seconds.

RFC 3339 is a profile of ISO 8601: `datetime.fromisoformat` alone takes far more
(`10:00+08:00` without seconds, `+0800`, `+08`, week and ordinal dates, basic format,
any separator, a decimal comma, `+08:60`). So a string must first match `RFC3339`, the
pattern the published JSON Schema uses too; then the C parser reads the local date and
time and the offset comes from a table, so no tzinfo is built on the hot path. `T` and
`Z` may be lowercase (RFC 3339 §5.6), a fraction may have any number of digits
(truncated to the microsecond), `-00:00` is UTC, and the leap second `23:59:60` UTC
(with any fraction) is read as `23:59:59.999999`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
MAX_SECONDS = 2**32 - 1
"""2106-02-07T06:28:15Z, the last instant SPEC §1 accepts (inclusive)."""
MAX_MICROS = MAX_SECONDS * 1_000_000
_US = timedelta(microseconds=1)

_LOCAL = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]"
    r":([0-5][0-9]|60)(\.[0-9]+)?"
)
RFC3339 = _LOCAL + r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
"""RFC 3339 `date-time` (§5.6): seconds and an offset required, offsets up to ±23:59.
Impossible days (02-30) and the 1970 … 2106 bounds are checked after matching."""
_MATCH = re.compile(RFC3339, re.ASCII).fullmatch
_LOCAL_MATCH = re.compile(_LOCAL, re.ASCII).fullmatch
_SECOND = 17  # index of the seconds' first digit: YYYY-MM-DDTHH:MM:SS
_OFFSETS = {
    f"{sign}{minutes // 60:02d}:{minutes % 60:02d}": factor * minutes * 60_000_000
    for sign, factor in (("+", 1), ("-", -1))
    for minutes in range(24 * 60)
}
"""Every RFC 3339 numeric offset, in microseconds east of UTC."""

WRONG_TYPE = "must be an RFC 3339 string with offset or int unix seconds"
OUT_OF_RANGE = "out of range (1970-01-01T00:00:00Z … 2106-02-07T06:28:15Z)"


def parse_occurred_at(value: object) -> int:
    """Int microseconds since the epoch, or ValueError with the reason the event is poison."""
    if type(value) is int:  # not bool, which JSON spells true/false
        if 0 <= value <= MAX_SECONDS:
            return value * 1_000_000
        raise ValueError(OUT_OF_RANGE)
    if not isinstance(value, str):
        raise ValueError(WRONG_TYPE)
    if _MATCH(value) is None:
        if _LOCAL_MATCH(value) is not None:
            raise ValueError(f"timestamp without offset: {_show(value)}")
        raise ValueError(f"not an RFC 3339 date-time with offset: {_show(value)}")
    offset = _OFFSETS.get(value[-6:])  # the local time and its offset apart: no tzinfo to build
    local = value[:-6] if offset is not None else value[:-1]
    try:
        micros = (datetime.fromisoformat(local) - _NAIVE_EPOCH) // _US - (offset or 0)
    except ValueError:
        micros = _leap_second(value, local, offset or 0)
    if 0 <= micros <= MAX_MICROS:
        return micros
    raise ValueError(OUT_OF_RANGE)


def _leap_second(value: str, local: str, offset: int) -> int:
    """`…:60` is a leap second, which only exists as the last second of a UTC day."""
    if local[_SECOND : _SECOND + 2] != "60":
        raise ValueError(f"not a date: {_show(value)}")  # a day the month does not have
    try:
        moment = datetime.fromisoformat(f"{local[:_SECOND]}59")
    except ValueError as exc:
        raise ValueError(f"not a date: {_show(value)}") from exc
    second = (moment - _NAIVE_EPOCH) // _US // 1_000_000 - offset // 1_000_000
    if second % 86400 != 86399:
        raise ValueError(f"second 60 is only a leap second at 23:59:60 UTC: {_show(value)}")
    return second * 1_000_000 + 999_999


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")
