"""What the API needs to know about its deployment, passed in explicitly (never read from env)."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Built by the CLI layer (`Settings.api_config()`); the Redis URL may hold a password, so it
    stays out of `repr`."""

    redis_url: str = field(repr=False)
    key_prefix: str
    zone: ZoneInfo
    public_base_url: str | None = None
