"""The legacy endpoint: `getStatisticsList`, answered as a Laravel paginator.

The order of the checks is part of the contract: an unknown tenant or a wrong
key is `invalid appid` before any parameter is looked at.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ConfigDep, EngineDep, ReaderDep
from api.envelope import JSON, base_url, paginator, statistics_path, success_body
from api.errors import InvalidAppId, ParamError, store_errors
from api.openapi import STATISTICS_OPENAPI, STATISTICS_RESPONSES
from api.params import parse_query
from api.phpinput import MAX_BODY_BYTES, nest_pairs, params_from_body
from api.reader import ProjectionReader, TenantConfig
from projector import control
from projector.layout import Layout

STATISTICS_ROUTE = "/business/{tenant_id}/plugin/CustomerManage/getStatisticsList"

router = APIRouter()


async def read_params(request: Request) -> dict[str, Any]:
    """Laravel's `$request->input()` of this request, the body bounded while it streams in."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ParamError("body", f"larger than {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type")
    query = request.url.query.encode()
    if content_type and content_type.lower().startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception as exc:  # Starlette raises several types for malformed multipart
            raise ParamError("body", "malformed multipart form") from exc
        pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        merged = params_from_body(None, b"", query)
        merged.update(nest_pairs(pairs))
        return merged
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ParamError("body", f"larger than {MAX_BODY_BYTES} bytes")
    if request.method == "GET":  # like PHP, a GET body is not read
        return params_from_body(None, b"", query)
    return params_from_body(content_type, bytes(body), query)


async def known_tenant(
    reader: ProjectionReader, text: str, given_key: str
) -> tuple[int, Layout | None, TenantConfig]:
    """The tenant of the URL, the layout to answer from and its config; InvalidAppId when the
    tenant is malformed, out of range, unknown, or the key does not match."""
    tenant = control.parse_tenant_id(text)
    if tenant is None:
        raise InvalidAppId(text)
    layout = await reader.layout()
    config = await reader.tenant(layout, tenant)
    if config is None or not control.api_key_accepts(config.api_key_digest, given_key):
        raise InvalidAppId(text)
    return tenant, layout, config


async def statistics(
    request: Request, tenant_id: str, config: ConfigDep, reader: ReaderDep, engine: EngineDep
) -> Response:
    with store_errors():
        given_key = request.headers.get("x-api-key", "")
        tenant, layout, tenant_config = await known_tenant(reader, tenant_id, given_key)
        query = parse_query(await read_params(request), config.zone)
        host = request.headers.get("host", request.url.netloc)
        base = base_url(request.url.scheme, host, request.headers, config.public_base_url)
        rows: list[dict[str, Any]] = []
        total = 0
        if layout is not None:
            page = await engine.page(layout, tenant, query, opportunity=tenant_config.opportunity)
            rows, total = page.rows, page.total
    envelope = paginator(
        rows,
        total=total,
        page=query.page,
        per_page=query.per_page,
        path=statistics_path(base, tenant),
    )
    return Response(success_body(envelope), media_type=JSON)


for _method in ("POST", "GET"):
    router.add_api_route(
        STATISTICS_ROUTE,
        statistics,
        methods=[_method],
        openapi_extra=STATISTICS_OPENAPI,
        responses=STATISTICS_RESPONSES,
        operation_id=f"getStatisticsList{_method.title()}",
        summary="Customer statistics per employee (Laravel paginator envelope)",
        response_class=Response,
    )
