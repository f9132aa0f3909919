"""Clients for short CLI commands: fail fast with one clear line instead of retrying."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from custstats.errors import Unavailable
from custstats.settings import Settings, masked_url

REDIS_TIMEOUT_S = 4.0
"""Each Redis connect and reply; no retries, so an unreachable Redis fails within this bound."""


def open_redis(settings: Settings) -> redis.Redis:
    """A client that fails fast (no retries) and has been pinged; Unavailable otherwise."""
    url = settings.redis()
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise Unavailable(f"cannot reach Redis at {masked_url(url)}: {exc}") from exc
    return client
