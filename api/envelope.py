"""The response bodies of SPEC §3, byte-compatible with the legacy Laravel endpoint.

The front end reads Laravel's LengthAwarePaginator array, so the keys, their order,
the null rules and the page URLs follow Laravel's `toArray()` (without the `links`
key Laravel 8 added). JSON is compact UTF-8, unescaped, as the legacy answered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from api.errors import ParamError
from api.params import SORT_FIELDS

ROW_FIELDS = (*SORT_FIELDS, "userid", "avatar_mediaid")
"""A row's keys in the legacy order: every sortable field, then the two profile ids."""
# A host name, IPv4 or bracketed IPv6, with an optional port; anything else in a Host
# header would be copied into every page URL, so it is not trusted.
_AUTHORITY = re.compile(r"(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?", re.IGNORECASE)
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}

JSON = "application/json"


def _header(headers: Mapping[str, str], name: str) -> str:
    """The first value of a comma-separated header, looked up case-insensitively."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), "")
    return value.split(",", 1)[0].strip()


def base_url(
    scheme: str,
    host: str,
    headers: Mapping[str, str],
    public_base_url: str | None,
    *,
    forwarded: bool,
) -> str:
    """`scheme://host` of the page URLs: the configured public URL, else what the client saw.

    With `forwarded` (the TCP peer is a trusted proxy, `api.proxies`), X-Forwarded-Proto/
    -Host override the request's own scheme and Host; from anyone else they are ignored. A
    default port is dropped and the host lower-cased, as Symfony does. A malformed forwarded
    value is ignored, a malformed Host becomes localhost.
    """
    if public_base_url and public_base_url.strip().rstrip("/"):
        return public_base_url.strip().rstrip("/")
    proto = _header(headers, "x-forwarded-proto").lower() if forwarded else ""
    if proto not in _DEFAULT_PORTS:
        proto = scheme.lower()
    authority = _header(headers, "x-forwarded-host") if forwarded else ""
    if not _AUTHORITY.fullmatch(authority):
        authority = host.strip()
    if not _AUTHORITY.fullmatch(authority):
        authority = "localhost"
    authority = authority.lower()
    if proto in _DEFAULT_PORTS:
        authority = authority.removesuffix(_DEFAULT_PORTS[proto])
    return f"{proto}://{authority}"


def statistics_path(base: str, tenant_id: int) -> str:
    """The endpoint's URL without query: the paginator's `path`."""
    return f"{base}/business/{tenant_id}/plugin/CustomerManage/getStatisticsList"


def paginator(
    rows: Sequence[Mapping[str, Any]], *, total: int, page: int, per_page: int, path: str
) -> dict[str, Any]:
    """Laravel's LengthAwarePaginator::toArray() for the rows of one page.

    Each row is re-emitted in ROW_FIELDS order without the keys it lacks (no
    `opportunity_count` without the plugin). As in Laravel, `prev_page_url` is
    page - 1 even past the last page, and `from`/`to` are null when the page is empty.
    """
    if page < 1 or per_page < 1 or total < 0:
        raise ValueError(f"page {page}, per_page {per_page}, total {total}")
    last_page = max(1, -(-total // per_page))
    data = [{key: row[key] for key in ROW_FIELDS if key in row} for row in rows]
    first = (page - 1) * per_page + 1 if data else None
    return {
        "current_page": page,
        "data": data,
        "first_page_url": f"{path}?page=1",
        "from": first,
        "last_page": last_page,
        "last_page_url": f"{path}?page={last_page}",
        "next_page_url": f"{path}?page={page + 1}" if page < last_page else None,
        "path": path,
        "per_page": per_page,
        "prev_page_url": f"{path}?page={page - 1}" if page > 1 else None,
        "to": None if first is None else first + len(data) - 1,
        "total": total,
    }


def success_body(paginator: dict[str, Any]) -> bytes:
    return orjson.dumps({"result": 1, "msg": "ok", "data": paginator})


def invalid_appid_body() -> bytes:
    """The legacy answer to an unknown tenant or a wrong API key."""
    return orjson.dumps({"errcode": 500, "errmsg": "invalid appid"})


def param_error_body(error: ParamError) -> bytes:
    return orjson.dumps({"result": 0, "msg": str(error), "data": []})
