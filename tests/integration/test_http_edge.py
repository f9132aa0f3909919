"""The HTTP edge against a real uvicorn over real sockets: slow and oversized requests.

A stalled or oversized request must cost the server a bounded time and memory, whatever
the content type or framing; a well-behaved request on the same server is unaffected.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from api.body import BodyGuard, BodyRejected
from api.http_protocol import DeadlineHttpToolsProtocol
from tests.support.api import read_until_closed, serving

pytestmark = pytest.mark.integration


class QuickDeadline(DeadlineHttpToolsProtocol):
    head_seconds = 0.5


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the size of the body it read, or the guard's verdict."""
    request = Request(scope, receive)
    try:
        if request.headers.get("content-type", "").startswith("multipart/"):
            form = await request.form()
            answer = f"fields={len(form)}"
        else:
            answer = f"length={len(await request.body())}"
    except BodyRejected as error:
        answer = f"{error.parameter}: {error}"
    await PlainTextResponse(answer)(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    app = BodyGuard(echo_length, max_bytes=64 * 1024, read_seconds=0.5)
    with serving(app, http=QuickDeadline, log_level="critical", lifespan="off") as address:
        yield address


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    return sock


def _request(address: tuple[str, int], head: bytes, body: bytes = b"") -> bytes:
    with _connect(address) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


def test_half_sent_heads_are_closed_after_the_deadline(server: tuple[str, int]) -> None:
    socks = [_connect(server) for _ in range(200)]
    try:
        for index, sock in enumerate(socks):
            if index % 2:
                sock.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Le")
        started = time.monotonic()
        answers = [read_until_closed(sock, limit=5.0) for sock in socks]
        assert time.monotonic() - started < 5.0
    finally:
        for sock in socks:
            sock.close()
    assert all(b"<still open>" not in answer for answer in answers)
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)


def test_a_second_request_that_stalls_on_a_kept_alive_connection_is_closed(
    server: tuple[str, int],
) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"length=0")
        sock.sendall(b"GET /b HTTP/1.1\r\nHo")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_a_request_sent_in_time_is_answered(server: tuple[str, int]) -> None:
    body = b"x" * 1000
    head = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
    assert _request(server, head, body).endswith(b"length=1000")


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(
    server: tuple[str, int],
) -> None:
    boundary = b"b0undary"
    part = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"z" * (512 * 1024) + b"\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (len(part), part)
    head = (
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n"
    )
    with _connect(server) as sock:
        sock.sendall(head)
        try:
            for _ in range(64):  # 32 MiB offered; the server must answer long before
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"body: larger than 65536 bytes")


def test_a_declared_length_over_the_limit_is_refused_at_once(server: tuple[str, int]) -> None:
    head = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(head + b"{}")
        answer = read_until_closed(sock)
    assert answer.endswith(b"body: larger than 65536 bytes")


def test_a_stalled_body_is_refused_after_its_deadline(server: tuple[str, int]) -> None:
    head = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
    with _connect(server) as sock:
        sock.sendall(head + b"0123456789")
        started = time.monotonic()
        answer = read_until_closed(sock)
        assert time.monotonic() - started < 4.0
    assert answer.endswith(b"body: not received within 0.5 s")
