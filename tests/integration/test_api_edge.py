"""Issue 10, findings 7 and 8, through a real uvicorn serving the real app over real sockets,
with the options `custstats api` runs it with (`api.serve.server_options`).

A body of any framing is bounded by the body guard and refused with the legacy `body: ...`
answer; half-sent requests cost a bounded time; X-Forwarded-* counts only from a trusted
proxy; a trailing slash is answered, not redirected to the client's Host; a client that
hangs up mid-body is not a server error.
"""

from __future__ import annotations

import logging
import select
import socket
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
import redis

from api.body import MAX_BODY_BYTES
from api.http_protocol import DeadlineHttpToolsProtocol
from api.serve import server_options
from projector.layout import ControlLayout
from tests.support.api import (
    api_app,
    create_version,
    mark_projection_complete,
    read_until_closed,
    serving,
)
from tests.support.servers import delete_prefixed

pytestmark = pytest.mark.integration

PATH = "/business/25/plugin/CustomerManage/getStatisticsList"
TOO_LARGE = {"result": 0, "msg": f"body: larger than {MAX_BODY_BYTES} bytes", "data": []}


# The protocol `custstats api` serves with, its head deadline shortened for the test.
QuickDeadline: type[DeadlineHttpToolsProtocol] = type(
    "QuickDeadline", (server_options()["http"],), {"head_seconds": 1.0}
)


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    """A deployment with tenant 25 registered and a complete (empty) projection."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(redis_url)
    client.sadd(ControlLayout(name).registered_tenants, "25")
    create_version(client, name)
    mark_projection_complete(client, name)
    client.close()
    yield name
    delete_prefixed(redis_url, name)


@pytest.fixture(scope="module")
def server(redis_url: str, prefix: str) -> Iterator[tuple[str, int]]:
    with serving(api_app(redis_url, prefix), http=QuickDeadline) as address:
        yield address


@pytest.fixture(scope="module")
def public_server(redis_url: str, prefix: str) -> Iterator[tuple[str, int]]:
    app = api_app(redis_url, prefix, public_base_url="https://stats.example.com")
    with serving(app) as address:
        yield address


def _exchange(
    address: tuple[str, int], request: bytes, source: str = "127.0.0.1"
) -> tuple[bytes, dict[str, str], bytes]:
    """(status line, headers, body) of the answer to one request on its own connection."""
    with socket.create_connection(address, timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(request)
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status.encode(), headers, body


def _post(headers: str = "", path: str = PATH) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: api.internal:8000\r\nContent-Type: application/json\r\n"
        f"Content-Length: 2\r\nConnection: close\r\n{headers}\r\n{{}}"
    ).encode()


def test_a_200_mib_chunked_multipart_body_is_refused_after_about_1_mib(
    server: tuple[str, int],
) -> None:
    boundary = b"b0undary"
    part = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"z" * (256 * 1024) + b"\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (len(part), part)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=b0undary\r\n\r\n"
    ).encode()
    sent = 0
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(head)
        try:
            while sent < 200 * 1024 * 1024:  # offered: 200 MiB
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert sent < 16 * MAX_BODY_BYTES, f"{sent} bytes sent before the answer"
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert orjson.loads(answer.partition(b"\r\n\r\n")[2]) == TOO_LARGE
    assert b"<still open>" not in answer  # closed: the rest of the body is not read


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_an_oversized_body_of_any_type_and_framing_is_the_legacy_body_error(
    server: tuple[str, int], content_type: str
) -> None:
    body = b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"
    for framing, payload in (
        (f"Content-Length: {len(body)}", body),
        ("Transfer-Encoding: chunked", b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)),
    ):
        request = (
            f"POST {PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
        ).encode()
        status, headers, answer = _exchange(server, request + payload)
        assert status == b"HTTP/1.1 200 OK"
        assert (orjson.loads(answer), headers["connection"]) == (TOO_LARGE, "close")


def test_2000_half_sent_requests_are_all_closed_within_the_deadline(
    server: tuple[str, int],
) -> None:
    socks = [socket.create_connection(server, timeout=5) for _ in range(2000)]
    try:
        for index, sock in enumerate(socks):
            if index % 2:
                sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: a\r\nContent-Le".encode())
        started = time.monotonic()
        answers = [read_until_closed(sock, limit=10.0) for sock in socks]
        elapsed = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert elapsed < QuickDeadline.head_seconds + 5.0
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)
    status, _, body = _exchange(server, _post())  # the server still answers
    assert status == b"HTTP/1.1 200 OK" and orjson.loads(body)["result"] == 1


def test_forwarded_host_counts_only_from_a_trusted_proxy(server: tuple[str, int]) -> None:
    forwarded = "X-Forwarded-Host: crm.example.com\r\nX-Forwarded-Proto: https\r\n"
    _, _, trusted = _exchange(server, _post(forwarded))  # from 127.0.0.1, trusted by default
    _, _, untrusted = _exchange(server, _post(forwarded), source="127.0.0.2")
    assert orjson.loads(trusted)["data"]["path"] == f"https://crm.example.com{PATH}"
    assert orjson.loads(untrusted)["data"]["path"] == f"http://api.internal:8000{PATH}"


def test_a_trailing_slash_is_answered_without_echoing_host(
    public_server: tuple[str, int],
) -> None:
    status, headers, body = _exchange(
        public_server, _post(path=PATH + "/").replace(b"api.internal:8000", b"evil.example")
    )
    assert status == b"HTTP/1.1 200 OK" and "location" not in headers
    assert orjson.loads(body)["data"]["path"] == f"https://stats.example.com{PATH}"
    assert b"evil.example" not in body
    assert headers["cache-control"] == "no-store"


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_that_hangs_up_mid_body_is_no_server_error(server: tuple[str, int]) -> None:
    errors = _Errors()
    logging.getLogger("uvicorn.error").addHandler(errors)
    try:
        for _ in range(5):
            with socket.create_connection(server, timeout=5) as sock:
                head = f"POST {PATH} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
                sock.sendall(head.encode() + b"0123456789")
                time.sleep(0.05)
        time.sleep(0.3)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(errors)
    assert [record.getMessage() for record in errors.records] == []
