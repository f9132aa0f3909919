"""The HTTP API as tests build it: straight from an `ApiConfig`, no environment involved.

`mark_projection_complete` sets what a running deployment would have written by the time
the API answers: the operator-settings "restored" marker (the config follower's) and the
current version's ready marks and freshness hash (the projector's). Tests that fill Redis
directly call it instead of spelling those keys themselves.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import redis
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from api.app import create_app
from api.config import ApiConfig
from api.serve import server_options
from projector import control
from projector.layout import ControlLayout, Layout
from projector.tenant_config import ConfigKeys

SHANGHAI = ZoneInfo("Asia/Shanghai")


def api_config(
    redis_url: str, key_prefix: str, public_base_url: str | None = None, **extra: Any
) -> ApiConfig:
    return ApiConfig(
        redis_url=redis_url,
        key_prefix=key_prefix,
        zone=SHANGHAI,
        public_base_url=public_base_url,
        **extra,
    )


def api_app(redis_url: str, key_prefix: str, **extra: Any) -> FastAPI:
    """The app the `custstats api` command would serve for this Redis and prefix."""
    return create_app(api_config(redis_url, key_prefix, **extra))


def mark_settings_restored(client: redis.Redis, prefix: str) -> None:
    """The config follower's marker: every operator setting is back in Redis."""
    client.set(ConfigKeys(prefix).restored, "{}")


def mark_projection_complete(
    client: redis.Redis,
    prefix: str,
    *,
    partitions: int = 1,
    marked: int | None = None,
    restored: bool = True,
    fresh: Mapping[str, int] | None = None,
) -> Layout | None:
    """The settings marker (unless `restored` is False), then for the current version (None
    when there is none yet): ready marks for the first `marked` of `partitions` partitions
    (all by default) and the `fresh` hash fields given (`control.end_field(p)`, ...)."""
    if restored:
        mark_settings_restored(client, prefix)
    stored: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    layout = control.live_layout(prefix, stored)
    if layout is None:
        return None
    done = partitions if marked is None else marked
    marks = {control.READY_PARTITIONS: partitions, **{str(p): 1 for p in range(done)}}
    client.hset(layout.ready_key, mapping=marks)  # type: ignore[arg-type]
    if fresh:
        client.hset(layout.fresh_key, mapping=dict(fresh))  # type: ignore[arg-type]
    return layout


def create_version(client: redis.Redis, prefix: str, version: int = 1) -> Layout:
    """A current version with nothing in it, as a projector's first start leaves it."""
    client.hsetnx(ControlLayout(prefix).key, control.CURRENT, version)
    stored: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    layout = control.live_layout(prefix, stored)
    assert layout is not None
    return layout


@contextmanager
def serving(app: ASGIApp, **options: Any) -> Iterator[tuple[str, int]]:
    """`app` under a real uvicorn on a free loopback port, in a thread, with the options
    `custstats api` uses (`api.serve.server_options`) unless overridden; yields the address."""
    settings = {**server_options(), "log_level": "error", "lifespan": "on", **options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def read_until_closed(sock: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection; `<still open>` is appended
    when `limit` passes first."""
    sock.settimeout(limit)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        chunks.append(b"<still open>")
    except ConnectionResetError:
        pass
    return b"".join(chunks)
