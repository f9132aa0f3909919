"""Seeded generators of valid events and of records that SPEC §1 makes poison, for the fuzz tests.

`valid_event` spells every field every way the contract allows (64-bit bounds, 100-entry
lists, 255-character strings, every timestamp spelling) and says which instant it meant;
`malformed_event` breaks exactly one rule of an otherwise valid event, as a JSON object;
`malformed_record` adds what only bytes can be: random bytes, truncated or deeply nested
JSON, invalid UTF-8, values over 64 KiB. Every malformed output is poison by construction.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_SECONDS = 2**32 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LIMIT_BYTES = 64 * 1024
TYPES = (
    "employee-upserted",
    "customer-added",
    "customer-updated",
    "customer-lost",
    "follow-recorded",
    "opportunity-created",
)
FIELDS: dict[str, tuple[str, ...]] = {
    "employee-upserted": ("employee_id", "name", "department_ids", "userid", "avatar_mediaid"),
    "customer-added": (
        "employee_id",
        "customer_id",
        "industry_id",
        "source_id",
        "progress_id",
        "tag_ids",
    ),
    "customer-updated": ("customer_id",),
    "customer-lost": ("employee_id", "customer_id"),
    "follow-recorded": ("employee_id", "customer_id"),
    "opportunity-created": ("employee_id", "customer_id", "opportunity_id"),
}
"""Per type, the fields beyond event_id, type, tenant_id and occurred_at that must be present."""
IDS = ("employee_id", "customer_id", "opportunity_id")
NULLABLE_IDS = ("industry_id", "source_id", "progress_id")
LISTS = ("tag_ids", "department_ids")
TEXTS = ("name", "userid", "avatar_mediaid")
ALPHABET = 'abcXYZ019 -_韦谢梓杰😀é\u2028"\\/\t'


def _id(rng: random.Random, low: int = INT64_MIN) -> int:
    pick = rng.random()
    if pick < 0.6:
        return rng.randint(max(low, 1), 10_000)
    if pick < 0.8:
        return rng.choice([low, INT64_MAX, max(low, 0), max(low, -1), 2**53 + 1, 2**32])
    return rng.randint(low, INT64_MAX)


def _text(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choices(ALPHABET, k=rng.randint(low, high)))


def _length(rng: random.Random, limit: int) -> int:
    return rng.choice([0, 1, 2, 3, rng.randint(0, limit), limit])


def valid_timestamp(rng: random.Random) -> tuple[Any, int]:
    """A valid occurred_at in a random spelling, and the microseconds it means."""
    pick = rng.random()
    if pick < 0.2:
        seconds = rng.choice([0, MAX_SECONDS, rng.randint(0, MAX_SECONDS)])
        return seconds, seconds * 1_000_000
    if pick < 0.23:  # a leap second, at 23:59:60 UTC of some day
        day = rng.randint(1, 49_709)
        minutes = rng.randint(-(24 * 60 - 1), 24 * 60 - 1)
        local = datetime.fromtimestamp(day * 86400 - 1, timezone(timedelta(minutes=minutes)))
        text = local.isoformat().replace(":59+", ":60+").replace(":59-", ":60-")
        return text, (day * 86400 - 1) * 1_000_000 + 999_999
    micros = rng.choice([0, MAX_SECONDS * 1_000_000, rng.randint(0, MAX_SECONDS * 1_000_000)])
    digits = rng.choice([0, 0, 1, 3, 6, 9])
    if digits < 6:
        micros -= micros % 10 ** (6 - digits)
    instant = EPOCH + timedelta(microseconds=micros)
    zone = timezone(timedelta(minutes=rng.randint(-(24 * 60 - 1), 24 * 60 - 1)))
    local = instant.astimezone(zone)
    fraction = f".{local.microsecond:06d}123"[: digits + 1] if digits else ""
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    if offset == "+00:00":
        offset = rng.choice(["Z", "z", "+00:00", "-00:00"])
    separator = rng.choice("TTTt")
    return f"{local:%Y-%m-%d}{separator}{local:%H:%M:%S}{fraction}{offset}", micros


def valid_event(rng: random.Random) -> tuple[dict[str, Any], int]:
    """A valid event of a random type, and the microseconds of its occurred_at."""
    kind = rng.choice(TYPES)
    occurred_at, micros = valid_timestamp(rng)
    event: dict[str, Any] = {
        "event_id": _text(rng, 1, rng.choice([8, 128])),
        "type": kind,
        "tenant_id": _id(rng, low=1),
        "occurred_at": occurred_at,
    }
    for field in FIELDS[kind]:
        event[field] = _value(rng, field)
    if kind == "customer-updated":
        for field in rng.sample([*NULLABLE_IDS, "tag_ids"], rng.randint(0, 4)):
            event[field] = _value(rng, field)
    if rng.random() < 0.1:
        event["schema_version"] = rng.randint(1, 3)
    if rng.random() < 0.1:
        event[rng.choice(["source", "trace", "nested"])] = {"x": [1, "y", None, 2.5]}
    return event, micros


def _value(rng: random.Random, field: str) -> Any:
    if field in IDS:
        return _id(rng)
    if field in NULLABLE_IDS:
        return None if rng.random() < 0.3 else _id(rng)
    if field in LISTS:
        return [_id(rng) for _ in range(_length(rng, 100))]
    if field == "name":
        return _text(rng, 0, _length(rng, 255))
    return None if rng.random() < 0.3 else _text(rng, 0, _length(rng, 255))


def bad_timestamp(rng: random.Random) -> Any:
    """An occurred_at that SPEC §1 refuses: other ISO 8601 spellings, out of range, wrong type."""
    text, _ = valid_timestamp(rng)
    while not isinstance(text, str) or ":60" in text:
        text, _ = valid_timestamp(rng)
    day, time = text[:10], text[11:19]
    tail = text[19:]
    zone = tail.lstrip(".0123456789")
    spoilers: list[Callable[[], Any]] = [
        lambda: f"{day}T{time}",  # no offset
        lambda: f"{day}T{time[:5]}{zone}",  # no seconds
        lambda: f"{day}T{time}+0800",
        lambda: f"{day}T{time}+08",
        lambda: f"{day}T{time}+08:00:00",
        lambda: f"{day} {time}{zone}",
        lambda: f"{day}T{time},5{zone}",
        lambda: f"{day}T{time}.{zone}",
        lambda: f"{day.replace('-', '')}T{time.replace(':', '')}Z",
        lambda: f"{day[:4]}-W{rng.randint(10, 52)}-{rng.randint(1, 7)}T{time}Z",
        lambda: f"{day[:4]}-{rng.randint(100, 365)}T{time}Z",
        lambda: f"{day}T{time}+{rng.randint(24, 99)}:00",
        lambda: f"{day}T{time}+08:{rng.randint(60, 99)}",
        lambda: f"{day}T{rng.randint(24, 99)}{time[2:]}{zone}",
        lambda: f"{day[:4]}-{rng.choice(['00', '13', '99'])}-01T{time}Z",
        lambda: f"{rng.choice(['2023-02-29', '2024-02-30', '2024-04-31', '2100-02-29'])}T{time}Z",
        lambda: f"{rng.choice(['0001', '1000', '1969', '2107', '9999'])}-06-01T{time}Z",
        lambda: f"{day}T12:34:60Z",
        lambda: f" {text}" if rng.random() < 0.5 else f"{text}\n",
        lambda: text.replace("-", "\u2010", 1),
        lambda: rng.choice([-1, -(2**40), MAX_SECONDS + 1, 2**63, 2**64]),
        lambda: rng.choice([True, False, None, 1.5, 1680158478.25, [text], {"at": text}, ""]),
        lambda: rng.choice(["yesterday", "now", "1680158478", "2023-03-30", "14:41:18Z"]),
    ]
    return rng.choice(spoilers)()


def malformed_event(rng: random.Random) -> dict[str, Any]:
    """A valid event with exactly one rule of SPEC §1 broken, still a JSON object."""
    event, _ = valid_event(rng)
    kind = event["type"]
    recipe = rng.randrange(9)
    if recipe == 0:
        del event[rng.choice(["event_id", "type", "tenant_id", "occurred_at", *FIELDS[kind]])]
    elif recipe == 1:
        event["occurred_at"] = bad_timestamp(rng)
    elif recipe == 2:
        event["tenant_id"] = rng.choice([0, -1, INT64_MIN, 2**63, 2**64, 10**30])
    elif recipe == 3:
        field = rng.choice([f for f in FIELDS[kind] if f in IDS or f in NULLABLE_IDS])
        event[field] = rng.choice([2**63, 2**64, INT64_MIN - 1, -(2**64), 10**30])
    elif recipe == 4:
        _break_list(rng, event)
    elif recipe == 5:
        _break_text(rng, event)
    elif recipe == 6:
        event["type"] = rng.choice(
            ["customer-deleted", "Customer-Added", "", "follow_recorded", 3, None, ["x"], True]
        )
    elif recipe == 7:
        field = rng.choice(["event_id", "tenant_id", "occurred_at", *FIELDS[kind]])
        event[field] = _wrong_type(rng, field)
    else:
        event["event_id"] = rng.choice(["", "x" * rng.randint(129, 2000)])
    return event


def _break_list(rng: random.Random, event: dict[str, Any]) -> None:
    field = "department_ids" if event["type"] == "employee-upserted" else "tag_ids"
    if event["type"] not in ("employee-upserted", "customer-added", "customer-updated"):
        event["type"], event["customer_id"] = "customer-updated", 1
    if rng.random() < 0.5:
        event[field] = list(range(rng.choice([101, 102, 500, 5000])))
    else:
        entries: list[Any] = [_id(rng) for _ in range(rng.randint(0, 99))]
        bad: Any = rng.choice([2**63, -(2**63) - 1, "7", True, None, 1.5, [1], {}])
        entries.insert(rng.randint(0, len(entries)), bad)
        event[field] = entries


def _break_text(rng: random.Random, event: dict[str, Any]) -> None:
    if event["type"] != "employee-upserted":
        event.update(type="employee-upserted", employee_id=1, name="n", department_ids=[])
        event.update(userid=None, avatar_mediaid=None)
    event[rng.choice(TEXTS)] = _text(rng, 256, rng.choice([256, 300, 5000]))


def _wrong_type(rng: random.Random, field: str) -> Any:
    if field in ("event_id", "name"):
        return rng.choice([None, 17, True, [], {}, 1.5])
    if field in ("userid", "avatar_mediaid"):
        return rng.choice([17, True, [], {}, 1.5])
    if field in LISTS:
        return rng.choice([None, 7, "1,2", {}, True])
    if field == "occurred_at":
        return rng.choice([None, 1.5, [], {}, True])
    nullable = field in NULLABLE_IDS
    return rng.choice(["25", True, False, 2.5, [], {}, *([] if nullable else [None])])


def encode(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


NOT_EVENTS = (b"", b" ", b"\n\t", b"null", b"42", b"true", b'"customer-added"', b"[]", b"{}")


def malformed_record(rng: random.Random) -> bytes:
    """Bytes that are poison: a malformed event, or something that is not an event at all."""
    pick = rng.randrange(10)
    if pick < 4:
        return encode(malformed_event(rng))
    valid = encode(valid_event(rng)[0])
    if pick == 4:
        return rng.randbytes(rng.randint(0, 300))
    if pick == 5:
        return valid[: rng.randrange(len(valid))]
    if pick == 6:
        return _deep(rng, valid)
    if pick == 7:
        return _oversized(rng, valid)
    if pick == 8:
        at = rng.randrange(1, len(valid) - 1)
        return (
            valid[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + valid[at:]
        )
    wrapped = (b"[" + valid + b"]", valid + b" {}", valid + b"x", b"{" + valid, valid + b"}")
    return rng.choice([*NOT_EVENTS, *wrapped])


def _deep(rng: random.Random, valid: bytes) -> bytes:
    depth = rng.choice([201, 256, 1000, rng.randint(201, 20_000)])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")])
    nested = opener * depth + b"1" + closer * depth
    if rng.random() < 0.5:
        return (opener * depth)[: LIMIT_BYTES - 10]  # unterminated as well as deep
    return valid[:-1] + b',"x":' + nested + b"}"


def _oversized(rng: random.Random, valid: bytes) -> bytes:
    size = rng.choice([LIMIT_BYTES + 1, LIMIT_BYTES + 2, rng.randint(LIMIT_BYTES, 300_000)]) + 1
    pad = b'"' + b"p" * (size - len(valid) - 9) + b'"'  # the record is `size` bytes
    return valid[:-1] + b',"pad":' + pad + b"}"
