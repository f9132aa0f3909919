"""decode(): what the projector accepts, and the reason an upstream team reads when it does not."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.decode import MAX_REASON, Poison, decode
from events.schema import (
    CustomerAdded,
    CustomerLost,
    CustomerUpdated,
    EmployeeUpserted,
    FollowRecorded,
    OpportunityCreated,
)

# 2023-03-30T14:41:18+08:00 == 2023-03-30T06:41:18Z
INSTANT = 1680158478
COMMON: dict[str, Any] = {"event_id": "e-1", "tenant_id": 25, "occurred_at": INSTANT}


def raw(**fields: Any) -> bytes:
    return orjson.dumps({**COMMON, **fields})


def drop(field: str, **fields: Any) -> bytes:
    event = {**COMMON, **fields}
    del event[field]
    return orjson.dumps(event)


EMPLOYEE = {
    "type": "employee-upserted",
    "employee_id": 222,
    "name": "谢梓杰",
    "department_ids": [1, 2],
    "userid": None,
    "avatar_mediaid": "m-1",
}
ADDED = {
    "type": "customer-added",
    "employee_id": 222,
    "customer_id": 9,
    "industry_id": 3,
    "source_id": None,
    "progress_id": 5,
    "tag_ids": [7, 8],
}
LOST = {"type": "customer-lost", "employee_id": 222, "customer_id": 9}


VALID: list[tuple[bytes, type, int]] = [
    (raw(**EMPLOYEE), EmployeeUpserted, INSTANT),
    (raw(**ADDED), CustomerAdded, INSTANT),
    (raw(type="customer-updated", customer_id=9, tag_ids=[]), CustomerUpdated, INSTANT),
    (raw(**LOST), CustomerLost, INSTANT),
    (raw(**{**LOST, "type": "follow-recorded"}), FollowRecorded, INSTANT),
    (
        raw(**{**LOST, "type": "opportunity-created", "opportunity_id": 4}),
        OpportunityCreated,
        INSTANT,
    ),
    (raw(**{**LOST, "occurred_at": "2023-03-30T14:41:18+08:00"}), CustomerLost, INSTANT),
    (raw(**{**LOST, "occurred_at": "2023-03-30T06:41:18Z"}), CustomerLost, INSTANT),
    (raw(**{**LOST, "occurred_at": "2023-03-30T01:11:18-05:30"}), CustomerLost, INSTANT),
    (raw(**{**LOST, "occurred_at": "2023-03-30T06:41:18.25+00:00"}), CustomerLost, INSTANT),
    (raw(**{**LOST, "occurred_at": 0}), CustomerLost, 0),
    (raw(**LOST, schema_version=2, source="crm", nested={"x": [1]}), CustomerLost, INSTANT),
    (b"\n  " + raw(**LOST) + b"\r\n", CustomerLost, INSTANT),
]


@pytest.mark.parametrize(("record", "kind", "seconds"), VALID)
def test_valid_records_decode_to_their_event_type(record: bytes, kind: type, seconds: int) -> None:
    event = decode(record)
    assert isinstance(event, kind), event
    assert not isinstance(event, Poison)
    assert event.tenant_id == 25
    assert event.occurred_at // 1_000_000 == seconds


def test_fractional_seconds_are_kept_to_the_microsecond() -> None:
    event = decode(raw(**{**LOST, "occurred_at": "2023-03-30T06:41:18.25+00:00"}))
    assert not isinstance(event, Poison)
    assert event.occurred_at == INSTANT * 1_000_000 + 250_000


def test_unknown_fields_are_ignored_and_defaults_apply() -> None:
    event = decode(raw(**LOST, colour="blue"))
    assert isinstance(event, CustomerLost)
    assert event.schema_version == 1
    assert not hasattr(event, "colour")


@pytest.mark.parametrize(
    ("fields", "changes"),
    [
        ({}, {}),
        ({"industry_id": 3}, {"industry_id": 3}),
        ({"industry_id": None}, {"industry_id": None}),
        ({"tag_ids": []}, {"tag_ids": []}),
        (
            {"source_id": None, "progress_id": 4, "tag_ids": [1]},
            {"source_id": None, "progress_id": 4, "tag_ids": [1]},
        ),
    ],
)
def test_customer_updated_carries_exactly_the_keys_present(
    fields: dict[str, Any], changes: dict[str, Any]
) -> None:
    event = decode(raw(type="customer-updated", customer_id=9, **fields))
    assert isinstance(event, CustomerUpdated)
    assert event.changes() == changes


POISON: list[tuple[bytes | None, str]] = [
    (None, "empty record"),
    (b"", "empty record"),
    (b"  \n", "empty record"),
    (b"{not json", "invalid JSON: "),
    (b'{"type": "customer-lost",}', "invalid JSON: "),
    (raw(**LOST)[:-1], "invalid JSON: "),
    (b"\xff\xfe{}", "invalid UTF-8"),
    (raw(**{**LOST, "event_id": "caf\u00e9"}).replace(b"\xc3\xa9", b"\xe9"), "invalid UTF-8"),
    (b"[]", "event must be a JSON object"),
    (b'"customer-lost"', "event must be a JSON object"),
    (b"null", "event must be a JSON object"),
    (b"42", "event must be a JSON object"),
    (drop("customer_id", **LOST), "missing field 'customer_id'"),
    (drop("event_id", **LOST), "missing field 'event_id'"),
    (drop("occurred_at", **LOST), "missing field 'occurred_at'"),
    (drop("tenant_id", **ADDED), "missing field 'tenant_id'"),
    (raw(**{**ADDED, "tag_ids": None}), "field 'tag_ids': expected a list, got null"),
    (raw(type="customer-updated"), "missing field 'customer_id'"),
    (raw(**{**EMPLOYEE, "userid": None, "name": None}), "field 'name': expected a string"),
    (raw(**{**LOST, "tenant_id": "25"}), "field 'tenant_id': expected an integer, got a string"),
    (raw(**{**LOST, "tenant_id": True}), "field 'tenant_id': expected an integer, got a boolean"),
    (raw(**{**LOST, "customer_id": 9.5}), "field 'customer_id': expected an integer, got a float"),
    (raw(**{**LOST, "customer_id": 2**63}), "field 'customer_id': "),
    (raw(**{**ADDED, "tag_ids": [1, "2"]}), "field 'tag_ids[1]': expected an integer"),
    (raw(**{**EMPLOYEE, "department_ids": [False]}), "field 'department_ids[0]': expected an int"),
    (raw(**{**LOST, "tenant_id": 0}), "field 'tenant_id': must be greater than or equal to 1"),
    (raw(**{**LOST, "tenant_id": -3}), "field 'tenant_id': must be greater than or equal to 1"),
    (raw(**{**LOST, "tenant_id": 2**63}), "field 'tenant_id': must be less than or equal to 9223"),
    (raw(**{**LOST, "event_id": ""}), "field 'event_id': must not be empty"),
    (raw(**{**LOST, "event_id": "x" * 129}), "field 'event_id': longer than 128 characters"),
    (raw(**{**LOST, "event_id": 17}), "field 'event_id': expected a string, got an integer"),
    (raw(**{**LOST, "type": "customer-deleted"}), "unknown type 'customer-deleted'"),
    (raw(**{**LOST, "type": "Customer-Lost"}), "unknown type 'Customer-Lost'"),
    (drop("type", **LOST), "unknown type: missing field 'type'"),
    (raw(**{**LOST, "type": 3}), "unknown type: field 'type' must be a string"),
    (raw(**{**LOST, "type": None}), "unknown type: field 'type' must be a string"),
    (
        raw(**{**LOST, "occurred_at": "2023-03-30T14:41:18"}),
        "field 'occurred_at': timestamp without offset",
    ),
    (raw(**{**LOST, "occurred_at": "yesterday"}), "field 'occurred_at': not an RFC 3339 date-time"),
    (raw(**{**LOST, "occurred_at": "2023-02-30T00:00:00Z"}), "field 'occurred_at': not a date"),
    (raw(**{**LOST, "occurred_at": 1.5}), "field 'occurred_at': must be an RFC 3339 string"),
    (raw(**{**LOST, "occurred_at": True}), "field 'occurred_at': must be an RFC 3339 string"),
    (raw(**{**LOST, "occurred_at": -1}), "field 'occurred_at': out of range"),
    (raw(**{**LOST, "occurred_at": 2**32}), "field 'occurred_at': out of range"),
    (raw(**{**LOST, "schema_version": "2"}), "field 'schema_version': expected an integer"),
]


@pytest.mark.parametrize(("record", "reason"), POISON)
def test_poison_records_name_what_is_wrong(record: bytes | None, reason: str) -> None:
    result = decode(record)
    assert isinstance(result, Poison), result
    assert reason in result.reason


def test_every_error_of_a_record_is_reported_in_one_line() -> None:
    result = decode(raw(**{**LOST, "tenant_id": True, "customer_id": "9", "event_id": ""}))
    assert isinstance(result, Poison)
    assert result.reason.count("; ") == 2
    for field in ("'tenant_id'", "'customer_id'", "'event_id'"):
        assert field in result.reason


def test_unknown_type_lists_the_known_ones() -> None:
    result = decode(raw(**{**LOST, "type": "customer-deleted"}))
    assert isinstance(result, Poison)
    assert "customer-lost" in result.reason
    assert "opportunity-created" in result.reason


def test_reasons_stay_short_and_on_one_line_whatever_the_producer_wrote() -> None:
    hostile = raw(**{**LOST, "type": "evil\nline\u2028two" + "x" * 1000})
    many = raw(**{**ADDED, "tag_ids": ["x"] * 500})
    for record in (hostile, many):
        result = decode(record)
        assert isinstance(result, Poison)
        assert len(result.reason) <= MAX_REASON
        assert result.reason == " ".join(result.reason.split())


def test_deep_nesting_is_poison_not_a_crash() -> None:
    assert isinstance(decode(b"[" * 100_000), Poison)
    assert isinstance(decode(b'{"a":' * 10_000), Poison)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
TEMPLATES = st.sampled_from([EMPLOYEE, ADDED, LOST, {"type": "customer-updated", "customer_id": 1}])
FIELDS = st.sampled_from([*COMMON, *EMPLOYEE, *ADDED, "schema_version"])


@given(st.binary(max_size=300))
def test_decode_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    result = decode(data)
    if isinstance(result, Poison):
        assert 0 < len(result.reason) <= MAX_REASON


@given(TEMPLATES, st.dictionaries(FIELDS, JSON_VALUES, max_size=3))
def test_decode_never_raises_on_near_valid_events(
    template: dict[str, Any], changes: dict[str, Any]
) -> None:
    record = json.dumps({**COMMON, **template, **changes}, ensure_ascii=False).encode()
    result = decode(record)
    if isinstance(result, Poison):
        assert 0 < len(result.reason) <= MAX_REASON
        assert "\n" not in result.reason
