"""The `<topic>.config` record format: what is a valid setting, and why a record is not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.tenant_config import (
    MAX_TENANT_ID,
    BadConfig,
    TenantConfig,
    check_timestamp,
    decode,
    encode,
    now_rfc3339,
)

DIGEST = "a" * 64
GOOD: dict[str, Any] = {
    "schema_version": 1,
    "tenant_id": 25,
    "registered": True,
    "opportunity": "auto",
    "api_key_sha256": None,
    "updated_at": "2026-12-01T16:05:00Z",
}


def raw(**change: Any) -> bytes:
    return json.dumps(GOOD | change).encode()


def test_encode_is_compact_keyed_by_tenant_and_round_trips() -> None:
    record = TenantConfig(**(GOOD | {"api_key_sha256": DIGEST}))
    key, value = encode(record)
    assert key == b"25"
    assert b" " not in value
    assert list(json.loads(value)) == list(GOOD)
    assert decode(key, value) == record


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"tenant_id": 1},
        {"tenant_id": MAX_TENANT_ID},
        {"opportunity": "on"},
        {"opportunity": "off"},
        {"registered": False},
        {"api_key_sha256": DIGEST},
        {"updated_at": "2026-12-01T16:05:00.123456+08:00"},
        {"updated_at": "2026-12-01t08:05:00z"},
    ],
)
def test_valid_records(change: dict[str, Any]) -> None:
    verdict = decode(
        str(GOOD["tenant_id"] if "tenant_id" not in change else change["tenant_id"]).encode(),
        raw(**change),
    )
    assert isinstance(verdict, TenantConfig)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"25", None, "tombstone"),
        (None, raw(), "key is not a tenant id"),
        (b"025", raw(), "key is not a tenant id"),
        (b"abc", raw(), "key is not a tenant id"),
        (b"26", raw(), "does not match tenant_id 25"),
        (b"25", b"{not json", "invalid JSON"),
        (b"25", b"\xff\xfe", "invalid JSON"),
        (b"25", b"[]", "value"),
        (b"25", b"x" * 5000, "too large"),
        (b"25", raw(schema_version=2), "schema_version"),
        (b"25", raw(registered=1), "registered"),
        (b"25", raw(registered="true"), "registered"),
        (b"25", raw(opportunity="ON"), "opportunity"),
        (b"25", raw(api_key_sha256="A" * 64), "api_key_sha256"),
        (b"25", raw(api_key_sha256="secret"), "api_key_sha256"),
        (b"25", raw(updated_at="2026-12-01T16:05Z"), "updated_at"),
        (b"25", raw(updated_at="2026-12-01T16:05:00"), "updated_at"),
        (b"25", raw(updated_at="2026-02-30T16:05:00Z"), "updated_at"),
        (b"25", raw(updated_at=1764576000), "updated_at"),
        (b"25", raw(extra=1), "extra"),
        (b"0", raw(tenant_id=0), "key is not a tenant id"),
        (b"9223372036854775808", raw(tenant_id=2**63), "tenant_id"),
        (b"25", raw(tenant_id="25"), "tenant_id"),
    ],
)
def test_malformed_records_are_verdicts_with_a_reason(
    key: bytes | None, value: bytes | None, reason: str
) -> None:
    verdict = decode(key, value)
    assert isinstance(verdict, BadConfig)
    assert reason in verdict.reason
    assert len(verdict.reason) <= 300


def test_a_rejected_digest_is_not_echoed() -> None:
    verdict = decode(b"25", raw(api_key_sha256="hunter2-the-secret"))
    assert isinstance(verdict, BadConfig)
    assert "hunter2" not in verdict.reason


def test_now_is_valid_rfc3339() -> None:
    assert check_timestamp(now_rfc3339()).endswith("Z")
