"""What the API needs to know about its deployment, passed in explicitly (never read from env)."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

DEFAULT_TOPIC = "customer-events"
DEFAULT_TRUSTED_PROXIES = "127.0.0.1"
DEFAULT_READY_MAX_LAG = 10_000


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Built by the CLI layer (`Settings.api_config()`); the Redis URL may hold a password, so it
    stays out of `repr`.

    `topic` names the applied-offsets hash the lag is computed from; `trusted_proxies` is the
    CUSTSTATS_TRUSTED_PROXIES list (addresses, networks, `*`) whose X-Forwarded-Proto/Host are
    honoured; `ready_max_lag` the per-partition lag over which `/readyz` answers 503."""

    redis_url: str = field(repr=False)
    key_prefix: str
    zone: ZoneInfo
    public_base_url: str | None = None
    topic: str = DEFAULT_TOPIC
    trusted_proxies: str = DEFAULT_TRUSTED_PROXIES
    ready_max_lag: int = DEFAULT_READY_MAX_LAG
