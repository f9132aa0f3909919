"""Types and helpers of the server fixtures (tests/conftest.py), for test modules to import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis


class TopicFactory(Protocol):
    def __call__(self, partitions: int = 4) -> str: ...


class EnvFactory(Protocol):
    def __call__(self, topic: str | None = None) -> dict[str, str]: ...


def answers_ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def delete_prefixed(url: str, prefix: str) -> None:
    """Remove the keys under `prefix:` with SCAN + UNLINK: never KEYS, never FLUSHDB."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
    finally:
        client.close()


@dataclass(frozen=True)
class Deployment:
    """One test's whole deployment on the session servers: what tests that run the CLI as
    processes need, as one fixture (`deployment`) instead of seven."""

    bootstrap: str
    redis_url: str
    client: redis.Redis
    prefix: str
    make_topic: TopicFactory
    env: EnvFactory
    tmp_path: Path
