"""The legacy endpoint: `getStatisticsList`, answered as a Laravel paginator.

The order of the checks is part of the contract: a malformed tenant, then the operator's
protection of the tenant (settings being restored: 503; a key set: checked), then an
unknown tenant (when the projection is complete enough to know), then the projection's
completeness (rebuilding: 503, never partial numbers), and only then the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from api.body import BodyRejected
from api.deps import ConfigDep, EngineDep, ProxiesDep, ReaderDep
from api.envelope import JSON, base_url, paginator, statistics_path, success_body
from api.errors import (
    InvalidAppId,
    ParamError,
    ProjectionRebuilding,
    SettingsRestoring,
    store_errors,
)
from api.freshness import headers_of, remember
from api.openapi import STATISTICS_OPENAPI, STATISTICS_RESPONSES
from api.params import parse_query
from api.phpinput import nest_pairs, params_from_body
from api.reader import ProjectionReader, TenantView
from projector import control
from projector.layout import Layout
from projector.tenant_config import Protection, protection

STATISTICS_ROUTE = "/business/{tenant_id}/plugin/CustomerManage/getStatisticsList"

router = APIRouter()


async def read_params(request: Request) -> dict[str, Any]:
    """Laravel's `$request->input()` of this request; the body's size and time are bounded by
    `api.body.BodyGuard` under every route (its `BodyRejected` is a `body: ...` error)."""
    content_type = request.headers.get("content-type")
    query = request.url.query.encode()
    if content_type and content_type.lower().startswith("multipart/form-data"):
        try:
            form = await request.form()
        except (BodyRejected, ClientDisconnect):
            raise
        except Exception as exc:  # Starlette raises several types for malformed multipart
            raise ParamError("body", "malformed multipart form") from exc
        pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        merged = params_from_body(None, b"", query)
        merged.update(nest_pairs(pairs))
        return merged
    if request.method == "GET":  # like PHP, a GET body is not read
        return params_from_body(None, b"", query)
    return params_from_body(content_type, await request.body(), query)


@dataclass(frozen=True, slots=True)
class Admitted:
    tenant: int
    layout: Layout
    view: TenantView


def admit(
    text: str, tenant: int, layout: Layout | None, view: TenantView, given_key: str
) -> Admitted:
    """The checks of the module docstring after the tenant id's, over what one round trip read."""
    verdict = protection(view.status.restored, view.config)
    if verdict is Protection.RESTORING:
        raise SettingsRestoring()
    if verdict is Protection.KEYED and not control.api_key_accepts(view.api_key_digest, given_key):
        raise InvalidAppId(text)
    if layout is None or not view.status.complete:  # an unknown tenant may be still to come
        raise ProjectionRebuilding(view.status.completeness.percent)
    if not view.known:
        raise InvalidAppId(text)
    return Admitted(tenant, layout, view)


async def known_tenant(
    request: Request, reader: ProjectionReader, text: str, given_key: str
) -> Admitted:
    """The tenant of the URL, the layout to answer from and what was read with it; raises the
    error that answers the request otherwise."""
    tenant = control.parse_tenant_id(text)
    if tenant is None:
        raise InvalidAppId(text)
    layout = await reader.layout()
    view = await reader.tenant(layout, tenant)
    remember(request, view.status)
    return admit(text, tenant, layout, view, given_key)


async def statistics(
    request: Request,
    tenant_id: str,
    config: ConfigDep,
    reader: ReaderDep,
    engine: EngineDep,
    proxies: ProxiesDep,
) -> Response:
    with store_errors():
        given_key = request.headers.get("x-api-key", "")
        admitted = await known_tenant(request, reader, tenant_id, given_key)
        query = parse_query(await read_params(request), config.zone)
        peer = request.client.host if request.client else None
        host = request.headers.get("host", request.url.netloc)
        base = base_url(
            request.url.scheme,
            host,
            request.headers,
            config.public_base_url,
            forwarded=proxies.trusts(peer),
        )
        page = await engine.page(
            admitted.layout, admitted.tenant, query, opportunity=admitted.view.opportunity
        )
    envelope = paginator(
        page.rows,
        total=page.total,
        page=query.page,
        per_page=query.per_page,
        path=statistics_path(base, admitted.tenant),
    )
    headers = headers_of(admitted.view.status)
    return Response(success_body(envelope), media_type=JSON, headers=headers)


for _method in ("POST", "GET"):
    for _path, _listed in ((STATISTICS_ROUTE, True), (STATISTICS_ROUTE + "/", False)):
        router.add_api_route(
            _path,
            statistics,
            methods=[_method],
            openapi_extra=STATISTICS_OPENAPI,
            responses=STATISTICS_RESPONSES,
            operation_id=f"getStatisticsList{_method.title()}{'' if _listed else 'Slash'}",
            summary="Customer statistics per employee (Laravel paginator envelope)",
            response_class=Response,
            include_in_schema=_listed,
        )
