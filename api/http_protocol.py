"""uvicorn's httptools protocol with a deadline on every request's head.

uvicorn arms its keep-alive timer only after a response; a client that connects and
sends nothing, or half a request line, or headers a byte a minute, holds its socket
(and a file descriptor) for ever — two thousand such clients exhaust a worker. This
protocol gives each request `HEAD_SECONDS` from its first byte (or from the
connection, for the first request) to its last header, then answers 408 and closes.
The body has its own bound, enforced by `api.body.BodyGuard`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request timeout\n"
)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """Selected with `uvicorn.run(..., http=DeadlineHttpToolsProtocol)`."""

    head_seconds = HEAD_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # a new request starts: its head must arrive in time
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_seconds, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()
