"""Operator settings of one tenant as a record of the compacted `<topic>.config` topic.

The one owner of the format: `custstats tenant` writes records with `encode`, the
projector reads them with `decode`. Key: the tenant id in decimal ASCII. Value:
compact JSON holding the tenant's whole settings (not a change), so the latest
record of a key is all there is to know and compaction may drop the others:

    {"schema_version":1,"tenant_id":25,"registered":true,"opportunity":"auto",
     "api_key_sha256":null,"updated_at":"2026-12-01T16:05:00Z"}

`decode` never raises: a record that is not a valid setting becomes `BadConfig`
with a one-line reason, which the projector reports and skips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

SCHEMA_VERSION: Literal[1] = 1
MAX_TENANT_ID = 2**63 - 1
MAX_RECORD_BYTES = 4096
"""A valid record is under 300 bytes; anything much larger is refused before parsing."""
MODES = ("on", "off", "auto")

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_KEY = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
TenantId = Annotated[int, Field(ge=1, le=MAX_TENANT_ID)]


def check_timestamp(text: str) -> str:
    """RFC 3339 date-time with seconds and an offset; ValueError otherwise."""
    if _RFC3339.fullmatch(text) is None:
        raise ValueError("not an RFC 3339 date-time with offset")
    datetime.fromisoformat(text.upper().replace("Z", "+00:00"))  # a real date and time
    return text


class TenantConfig(BaseModel):
    """Everything the operator set for one tenant; absent settings are the defaults."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    schema_version: Literal[1]
    tenant_id: TenantId
    registered: bool
    opportunity: Literal["on", "off", "auto"]
    api_key_sha256: Digest | None
    updated_at: Annotated[str, StringConstraints(max_length=40), AfterValidator(check_timestamp)]


@dataclass(frozen=True, slots=True)
class BadConfig:
    """A config record that cannot be applied, and why (one line, no secrets)."""

    reason: str


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def config_key(tenant_id: int) -> bytes:
    return str(tenant_id).encode("ascii")


def encode(config: TenantConfig) -> tuple[bytes, bytes]:
    """(key, value) of the record that states `config`."""
    return config_key(config.tenant_id), config.model_dump_json().encode()


def decode(key: bytes | None, value: bytes | None) -> TenantConfig | BadConfig:
    """A config record, or why it is not one; never raises."""
    if key is None or _KEY.fullmatch(key.decode("ascii", "replace")) is None:
        return BadConfig(f"key is not a tenant id: {_show(key)}")
    if value is None:
        return BadConfig(f"tenant {key.decode()}: tombstone (no value) ignored")
    if len(value) > MAX_RECORD_BYTES:
        return BadConfig(f"tenant {key.decode()}: value of {len(value)} bytes is too large")
    try:
        config = TenantConfig.model_validate_json(value)
    except ValidationError as exc:
        return BadConfig(f"tenant {key.decode()}: {_explain(exc)}")
    except Exception as exc:  # a validator bug must not stop the projector
        return BadConfig(f"tenant {key.decode()}: cannot decode: {type(exc).__name__}")
    if config_key(config.tenant_id) != key:
        return BadConfig(f"key {key.decode()} does not match tenant_id {config.tenant_id}")
    return config


def _explain(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    message = first["msg"] if first["type"] != "json_invalid" else "invalid JSON"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}"[:300]


def _show(key: bytes | None) -> str:
    return "none" if key is None else repr(key[:40])
