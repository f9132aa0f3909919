"""One cap on every request body, whatever its content type or framing.

A `Content-Length` check alone lets a chunked body through, and Starlette's multipart
parser spools whatever arrives to a temporary file; a client that sends a few bytes a
minute holds a worker's request open for ever. The guard sits under every route: it
counts the bytes of the body as they are received (JSON, form, multipart, chunked or
not) and bounds the time the whole body may take, so the route sees a clear error
instead of an unbounded read.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1 << 20
BODY_READ_SECONDS = 10.0


class BodyRejected(Exception):
    """The request body broke a limit; `parameter` and `str()` make the legacy message."""

    parameter = "body"


class BodyTooLarge(BodyRejected):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")


class BodyTooSlow(BodyRejected):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"not received within {seconds:g} s")


class BodyGuard:
    """ASGI middleware: raises `BodyTooLarge`/`BodyTooSlow` from `receive` for the route."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        read_seconds: float = BODY_READ_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_seconds = read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            receive = _refuse(BodyTooLarge(self.max_bytes), receive)
        else:
            receive = _BodyReader(receive, self.max_bytes, self.read_seconds)
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _refuse(error: BodyRejected, receive: Receive) -> Receive:
    """Fails the first body read; later reads (disconnect listeners) pass through."""
    refused = False

    async def guarded() -> Message:
        nonlocal refused
        if not refused:
            refused = True
            raise error
        return await receive()

    return guarded


class _BodyReader:
    """Counts body bytes and bounds the time to the body's last chunk."""

    def __init__(self, receive: Receive, max_bytes: int, read_seconds: float) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._read_seconds = read_seconds
        self._received = 0
        self._deadline: float | None = None
        self._complete = False

    async def __call__(self) -> Message:
        if self._complete:  # the body is read: a wait for disconnect is not bounded
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self._read_seconds
        try:
            async with asyncio.timeout_at(self._deadline):
                message: dict[str, Any] = dict(await self._receive())
        except TimeoutError:
            self._complete = True
            raise BodyTooSlow(self._read_seconds) from None
        if message["type"] != "http.request":
            self._complete = True
            return message
        self._received += len(message.get("body", b""))
        if not message.get("more_body", False):
            self._complete = True
        if self._received > self._max_bytes:
            self._complete = True
            raise BodyTooLarge(self._max_bytes)
        return message
