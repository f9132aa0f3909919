"""The response bodies, byte for byte as the legacy Laravel endpoint wrote them (SPEC §3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from starlette.datastructures import Headers

from api.envelope import (
    ROW_FIELDS,
    base_url,
    invalid_appid_body,
    paginator,
    param_error_body,
    statistics_path,
    success_body,
)
from api.errors import ParamError

PATH = "https://host/business/25/plugin/CustomerManage/getStatisticsList"
SPEC_ROW = {
    "id": 222,
    "name": "谢梓杰",
    "follow_count": 65,
    "lose_customer_count": 0,
    "customer_count": 73,
    "new_customer_count": 73,
    "opportunity_count": 14,
    "customer_last_date": "2023-03-30 14:41:18",
    "follow_last_date": "2023-03-07 17:19:04",
    "userid": None,
    "avatar_mediaid": None,
}
SPEC_ROW_JSON = (
    '{"id":222,"name":"谢梓杰","follow_count":65,"lose_customer_count":0,"customer_count":73,'
    '"new_customer_count":73,"opportunity_count":14,"customer_last_date":"2023-03-30 14:41:18",'
    '"follow_last_date":"2023-03-07 17:19:04","userid":null,"avatar_mediaid":null}'
)


def employee(number: int) -> dict[str, Any]:
    """A row with its keys in reverse order, as a query engine might build it."""
    return {
        "avatar_mediaid": None,
        "userid": f"u{number}",
        "follow_last_date": "-",
        "customer_last_date": "-",
        "new_customer_count": number,
        "customer_count": 0,
        "lose_customer_count": 0,
        "follow_count": 0,
        "name": f"员工{number}",
        "id": number,
    }


def employee_json(number: int) -> str:
    return (
        f'{{"id":{number},"name":"员工{number}","follow_count":0,"lose_customer_count":0,'
        f'"customer_count":0,"new_customer_count":{number},"customer_last_date":"-",'
        f'"follow_last_date":"-","userid":"u{number}","avatar_mediaid":null}}'
    )


def test_spec_example_byte_for_byte() -> None:
    path = statistics_path(base_url("https", "host", {}, None, forwarded=False), 25)
    rows = [SPEC_ROW, *(employee(n) for n in range(1, 10))]
    body = success_body(paginator(rows, total=43, page=1, per_page=10, path=path))
    expected = (
        '{"result":1,"msg":"ok","data":{"current_page":1,"data":['
        + ",".join([SPEC_ROW_JSON, *(employee_json(n) for n in range(1, 10))])
        + f'],"first_page_url":"{PATH}?page=1","from":1,"last_page":5,'
        f'"last_page_url":"{PATH}?page=5","next_page_url":"{PATH}?page=2",'
        f'"path":"{PATH}","per_page":10,"prev_page_url":null,"to":10,"total":43}}}}'
    )
    assert body == expected.encode()


PAGES: list[tuple[int, int, list[int], str]] = [
    (
        2,
        5,
        [3, 4],
        f'{{"result":1,"msg":"ok","data":{{"current_page":2,"data":[{employee_json(3)},'
        f'{employee_json(4)}],"first_page_url":"{PATH}?page=1","from":3,"last_page":3,'
        f'"last_page_url":"{PATH}?page=3","next_page_url":"{PATH}?page=3","path":"{PATH}",'
        f'"per_page":2,"prev_page_url":"{PATH}?page=1","to":4,"total":5}}}}',
    ),
    (
        3,
        5,
        [5],
        f'{{"result":1,"msg":"ok","data":{{"current_page":3,"data":[{employee_json(5)}],'
        f'"first_page_url":"{PATH}?page=1","from":5,"last_page":3,'
        f'"last_page_url":"{PATH}?page=3","next_page_url":null,"path":"{PATH}",'
        f'"per_page":2,"prev_page_url":"{PATH}?page=2","to":5,"total":5}}}}',
    ),
    (
        7,
        5,
        [],
        f'{{"result":1,"msg":"ok","data":{{"current_page":7,"data":[],'
        f'"first_page_url":"{PATH}?page=1","from":null,"last_page":3,'
        f'"last_page_url":"{PATH}?page=3","next_page_url":null,"path":"{PATH}",'
        f'"per_page":2,"prev_page_url":"{PATH}?page=6","to":null,"total":5}}}}',
    ),
    (
        1,
        0,
        [],
        f'{{"result":1,"msg":"ok","data":{{"current_page":1,"data":[],'
        f'"first_page_url":"{PATH}?page=1","from":null,"last_page":1,'
        f'"last_page_url":"{PATH}?page=1","next_page_url":null,"path":"{PATH}",'
        f'"per_page":2,"prev_page_url":null,"to":null,"total":0}}}}',
    ),
]


@pytest.mark.parametrize(
    ("page", "total", "numbers", "expected"), PAGES, ids=["middle", "last", "past-last", "empty"]
)
def test_pages_byte_for_byte(page: int, total: int, numbers: list[int], expected: str) -> None:
    rows = [employee(n) for n in numbers]
    body = success_body(paginator(rows, total=total, page=page, per_page=2, path=PATH))
    assert body == expected.encode()


@pytest.mark.parametrize(
    ("total", "per_page", "last_page"),
    [(0, 10, 1), (1, 10, 1), (10, 10, 1), (11, 10, 2), (40, 10, 4), (41, 10, 5), (1, 100, 1)],
)
def test_last_page(total: int, per_page: int, last_page: int) -> None:
    result = paginator([], total=total, page=1, per_page=per_page, path=PATH)
    assert result["last_page"] == last_page
    assert result["last_page_url"] == f"{PATH}?page={last_page}"
    assert result["next_page_url"] == (f"{PATH}?page=2" if last_page > 1 else None)


def test_rows_keep_only_known_keys_in_spec_order() -> None:
    row = {"secret": 1, **employee(7)}
    data = paginator([row], total=1, page=1, per_page=10, path=PATH)["data"]
    without_plugin = [field for field in ROW_FIELDS if field != "opportunity_count"]
    assert list(data[0]) == without_plugin
    assert list(paginator([SPEC_ROW], total=1, page=1, per_page=10, path=PATH)["data"][0]) == list(
        ROW_FIELDS
    )


@pytest.mark.parametrize(("page", "per_page", "total"), [(0, 10, 1), (1, 0, 1), (1, 10, -1)])
def test_paginator_refuses_impossible_pages(page: int, per_page: int, total: int) -> None:
    with pytest.raises(ValueError):
        paginator([], total=total, page=page, per_page=per_page, path=PATH)


PROXY = {"x-forwarded-proto": "https", "x-forwarded-host": "crm.example.com"}
BASES: list[tuple[str, str, Mapping[str, str], str | None, str]] = [
    ("https", "host", {}, None, "https://host"),
    ("http", "example.com:8080", {}, None, "http://example.com:8080"),
    ("http", "Example.COM:80", {}, None, "http://example.com"),
    ("https", "example.com:443", {}, None, "https://example.com"),
    ("http", "example.com:443", {}, None, "http://example.com:443"),
    ("http", "[::1]:8000", {}, None, "http://[::1]:8000"),
    ("http", "10.0.0.5:8000", PROXY, None, "https://crm.example.com"),
    (
        "http",
        "10.0.0.5:8000",
        {"X-Forwarded-Proto": "HTTPS, http", "X-Forwarded-Host": "crm.example.com, 10.0.0.9"},
        None,
        "https://crm.example.com",
    ),
    ("http", "h:8000", {"x-forwarded-proto": "https"}, None, "https://h:8000"),
    (
        "http",
        "h",
        {"x-forwarded-host": "crm.example.com:443", **PROXY},
        None,
        "https://crm.example.com",
    ),
    ("http", "h", {"x-forwarded-host": "a.example:8443"}, None, "http://a.example:8443"),
    ("http", "h", {"x-forwarded-proto": "gopher"}, None, "http://h"),
    ("http", "h", {"x-forwarded-host": "evil.example/<script>"}, None, "http://h"),
    ("http", "h", {"x-forwarded-host": ""}, None, "http://h"),
    ("http", "bad host", {}, None, "http://localhost"),
    ("http", "", {}, None, "http://localhost"),
    ("http", "h", PROXY, "https://public.example/", "https://public.example"),
    ("http", "h", {}, "https://public.example/crm//", "https://public.example/crm"),
    ("http", "h", {}, "", "http://h"),
]


@pytest.mark.parametrize(("scheme", "host", "headers", "public", "expected"), BASES)
def test_base_url(
    scheme: str, host: str, headers: Mapping[str, str], public: str | None, expected: str
) -> None:
    """From a trusted proxy."""
    assert base_url(scheme, host, headers, public, forwarded=True) == expected


@pytest.mark.parametrize(("scheme", "host", "headers", "public", "expected"), BASES)
def test_forwarded_headers_of_an_untrusted_peer_are_ignored(
    scheme: str, host: str, headers: Mapping[str, str], public: str | None, expected: str
) -> None:
    own = base_url(scheme, host, {}, public, forwarded=True)
    assert base_url(scheme, host, headers, public, forwarded=False) == own


def test_base_url_reads_starlette_headers() -> None:
    headers = Headers({"X-Forwarded-Host": "crm.example.com", "X-Forwarded-Proto": "https"})
    assert base_url("http", "10.0.0.5", headers, None, forwarded=True) == "https://crm.example.com"
    assert base_url("http", "10.0.0.5", headers, None, forwarded=False) == "http://10.0.0.5"


def test_statistics_path() -> None:
    assert statistics_path("https://host", 25) == PATH


def test_error_bodies() -> None:
    assert invalid_appid_body() == b'{"errcode":500,"errmsg":"invalid appid"}'
    error = ParamError("per_page", "must be an integer from 1 to 100")
    assert param_error_body(error) == (
        b'{"result":0,"msg":"per_page: must be an integer from 1 to 100","data":[]}'
    )
    assert param_error_body(ParamError("search.name", "太长")) == (
        '{"result":0,"msg":"search.name: 太长","data":[]}'.encode()
    )
