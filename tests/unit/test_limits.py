"""SPEC §1 ids and limits (issue 10 findings 8 and 10): 64-bit ids, bounded lists, strings, size."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from events.decode import MAX_REASON, Poison, decode
from tests.unit.test_decode import ADDED, COMMON, EMPLOYEE, LOST

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
OPPORTUNITY = {**LOST, "type": "opportunity-created", "opportunity_id": 4}
UPDATED = {"type": "customer-updated", "customer_id": 9, "tag_ids": [1]}


def record(event: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**COMMON, **event, **changes}, ensure_ascii=False).encode()


def poison(data: bytes) -> str:
    result = decode(data)
    assert isinstance(result, Poison), result
    assert len(result.reason) <= MAX_REASON and "\n" not in result.reason
    return result.reason


@pytest.mark.parametrize("tenant", [1, 25, 10**18, 2**62, INT64_MAX])
def test_every_tenant_from_1_to_2_63_minus_1_is_valid(tenant: int) -> None:
    event = decode(record(LOST, tenant_id=tenant))
    assert not isinstance(event, Poison), event
    assert event.tenant_id == tenant


@pytest.mark.parametrize("tenant", [2**63, 2**64, 2**64 + 25, 10**30, 0, -1, INT64_MIN])
def test_a_tenant_outside_1_to_2_63_minus_1_is_poison(tenant: int) -> None:
    assert "field 'tenant_id': must be" in poison(record(LOST, tenant_id=tenant))


ID_FIELDS: list[tuple[dict[str, Any], str]] = [
    (LOST, "employee_id"),
    (LOST, "customer_id"),
    (OPPORTUNITY, "opportunity_id"),
    (ADDED, "industry_id"),
    (ADDED, "source_id"),
    (ADDED, "progress_id"),
]


@pytest.mark.parametrize(("event", "field"), ID_FIELDS, ids=[f for _, f in ID_FIELDS])
@pytest.mark.parametrize("value", [INT64_MIN, -1, 0, INT64_MAX])
def test_other_ids_take_every_signed_64_bit_value(
    event: dict[str, Any], field: str, value: int
) -> None:
    decoded = decode(record(event, **{field: value}))
    assert not isinstance(decoded, Poison), decoded
    assert getattr(decoded, field) == value


@pytest.mark.parametrize(("event", "field"), ID_FIELDS, ids=[f for _, f in ID_FIELDS])
@pytest.mark.parametrize("value", [2**63, 2**64, INT64_MIN - 1, -(2**64), 10**40])
def test_ids_beyond_64_bits_are_poison(event: dict[str, Any], field: str, value: int) -> None:
    assert f"field '{field}': must be" in poison(record(event, **{field: value}))


@pytest.mark.parametrize(
    ("event", "field"), [(ADDED, "tag_ids"), (UPDATED, "tag_ids"), (EMPLOYEE, "department_ids")]
)
def test_list_entries_are_64_bit_and_at_most_100(event: dict[str, Any], field: str) -> None:
    full = [INT64_MIN, INT64_MAX, *range(98)]
    decoded = decode(record(event, **{field: full}))
    assert not isinstance(decoded, Poison), decoded
    assert getattr(decoded, field) == full
    assert f"field '{field}[1]': must be" in poison(record(event, **{field: [1, 2**63]}))
    assert f"field '{field}': more than 100 entries" in poison(
        record(event, **{field: list(range(101))})
    )
    huge = poison(record(event, **{field: [7] * 10_000}))
    assert f"field '{field}': more than 100 entries" in huge


@pytest.mark.parametrize("field", ["name", "userid", "avatar_mediaid"])
def test_profile_strings_are_at_most_255_characters(field: str) -> None:
    for text in ("", "韦" * 255, "x" * 255, "😀" * 255):
        decoded = decode(record(EMPLOYEE, **{field: text}))
        assert not isinstance(decoded, Poison), decoded
        assert getattr(decoded, field) == text
    for text in ("韦" * 256, "x" * 256, "x" * 20_000):
        assert f"field '{field}': longer than 255 characters" in poison(
            record(EMPLOYEE, **{field: text})
        )


def test_event_id_is_1_to_128_characters() -> None:
    assert not isinstance(decode(record(LOST, event_id="界" * 128)), Poison)
    assert "longer than 128" in poison(record(LOST, event_id="界" * 129))
    assert "must not be empty" in poison(record(LOST, event_id=""))


def padded(size: int) -> bytes:
    """A valid event whose value is exactly `size` bytes, grown by an unknown field."""
    bare = record(LOST, pad="")
    data = record(LOST, pad="p" * (size - len(bare)))
    assert len(data) == size
    return data


def test_a_record_of_64_kib_is_valid_and_one_byte_more_is_poison() -> None:
    assert not isinstance(decode(padded(65_536)), Poison)
    assert poison(padded(65_537)) == "record of 65537 bytes is over the 65536-byte limit"


@pytest.mark.parametrize("size", [65_537, 1 << 20, 16 << 20])
def test_an_oversized_record_is_refused_before_it_is_parsed(size: int) -> None:
    garbage = b"\xff" + b"[" * (size - 1)  # neither UTF-8 nor JSON: the size alone decides
    started = time.perf_counter()
    assert poison(garbage) == f"record of {size} bytes is over the 65536-byte limit"
    assert time.perf_counter() - started < 0.01


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 65_536,
        b'{"a":' * 13_000,
        b'{"a":[' * 5_000 + b"]}" * 5_000,
        record(LOST)[:-1] + b',"x":' + b"[" * 300 + b"]" * 300 + b"}",
        record(LOST)[:-1] + b',"x":' + b'{"y":' * 300 + b"1" + b"}" * 300 + b"}",
    ],
    ids=["arrays", "objects", "mixed", "deep-extra-array", "deep-extra-object"],
)
def test_deep_nesting_is_poison_never_a_crash(data: bytes) -> None:
    assert "recursion limit" in poison(data)


def test_moderate_nesting_in_an_unknown_field_is_ignored() -> None:
    nested = record(LOST)[:-1] + b',"x":' + b"[" * 150 + b"]" * 150 + b"}"
    assert not isinstance(decode(nested), Poison)


def test_bools_and_floats_are_never_ids() -> None:
    for field in ("tenant_id", "customer_id", "employee_id"):
        assert "expected an integer, got a boolean" in poison(record(LOST, **{field: True}))
        spelled = record(LOST, **{field: 1000}).replace(b": 1000", b": 1e3")
        assert "expected an integer, got a float" in poison(spelled)
        assert "expected an integer, got a float" in poison(record(LOST, **{field: 25.0}))
    assert "expected an integer, got a boolean" in poison(record(ADDED, tag_ids=[1, False]))
