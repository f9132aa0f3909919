"""The HTTP API: the legacy statistics endpoint, health and readiness.

Every answer of the statistics endpoint is HTTP 200 with the legacy JSON body
(success, `result: 0` parameter errors, `invalid appid`), because the existing
front end reads the body, not the status; only an unreachable Redis is a 503.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from redis.exceptions import RedisError

from api.envelope import (
    base_url,
    invalid_appid_body,
    paginator,
    param_error_body,
    statistics_path,
    success_body,
)
from api.openapi import STATISTICS_OPENAPI, SUCCESS_EXAMPLE
from api.params import MAX_BODY_BYTES, ParamError, nest_pairs, params_from_body, parse_query
from api.reader import ProjectionReader, ProjectionUnreadable
from api.statistics import StatisticsEngine
from custstats.settings import Settings
from projector.calendar import LocalCalendar

log = logging.getLogger(__name__)
JSON = "application/json"
STATISTICS_ROUTE = "/business/{tenant_id}/plugin/CustomerManage/getStatisticsList"


def api_key_digest(key: str) -> str:
    """API keys are stored as SHA-256 hex digests, never in the clear."""
    return hashlib.sha256(key.encode()).hexdigest()


def _json(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=JSON)


def _opportunity_on(config: dict[bytes, bytes]) -> bool:
    mode = config.get(b"opportunity", b"auto")
    if mode == b"on":
        return True
    if mode == b"off":
        return False
    return config.get(b"opportunity_seen") == b"1"


async def _read_params(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ParamError("body", f"larger than {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type")
    if content_type and content_type.lower().startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception as exc:  # Starlette raises several types for malformed multipart
            raise ParamError("body", "malformed multipart form") from exc
        pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        merged = params_from_body(None, b"", request.url.query.encode())
        merged.update(nest_pairs(pairs))
        return merged
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ParamError("body", f"larger than {MAX_BODY_BYTES} bytes")
    if request.method == "GET":  # like PHP, a GET body is not read
        return params_from_body(None, b"", request.url.query.encode())
    return params_from_body(content_type, bytes(body), request.url.query.encode())


def create_app(settings: Settings, client: aioredis.Redis | None = None) -> FastAPI:
    calendar = LocalCalendar(settings.zone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis_client = client or aioredis.Redis.from_url(settings.redis())
        reader = ProjectionReader(redis_client, settings.key_prefix)
        app.state.reader = reader
        app.state.engine = StatisticsEngine(reader, calendar)
        yield
        if client is None:
            await redis_client.aclose()

    app = FastAPI(
        title="custstats",
        version="0.1.0",
        description="Customer statistics per employee, answered from projections kept by "
        "consuming the event log. Byte-compatible with the legacy getStatisticsList endpoint.",
        lifespan=lifespan,
    )

    async def statistics(request: Request, tenant_id: str) -> Response:
        reader: ProjectionReader = request.app.state.reader
        engine: StatisticsEngine = request.app.state.engine
        valid = tenant_id.isascii() and tenant_id.isdigit() and len(tenant_id) <= 18
        if not valid or int(tenant_id) <= 0:
            return _json(invalid_appid_body())
        tenant = int(tenant_id)
        try:
            layout = await reader.layout()
            config = await reader.tenant(layout, tenant)
            if config is None:
                return _json(invalid_appid_body())
            stored_key = config.get(b"api_key")
            if stored_key is not None:
                given = request.headers.get("x-api-key", "")
                if not hmac.compare_digest(api_key_digest(given).encode(), stored_key):
                    return _json(invalid_appid_body())
            try:
                query = parse_query(await _read_params(request), settings.zone)
            except ParamError as error:
                return _json(param_error_body(error))
            path = statistics_path(
                base_url(
                    request.url.scheme,
                    request.headers.get("host", request.url.netloc),
                    request.headers,
                    settings.public_base_url,
                ),
                tenant,
            )
            if layout is None:
                rows: list[dict[str, Any]] = []
                total = 0
            else:
                page = await engine.page(layout, tenant, query, opportunity=_opportunity_on(config))
                rows, total = page.rows, page.total
        except RedisError as exc:
            log.error("redis unavailable: %s", exc)
            return _json(
                orjson.dumps(
                    {"result": 0, "msg": "service: projection store unavailable", "data": []}
                ),
                503,
            )
        except ProjectionUnreadable as exc:
            return _json(orjson.dumps({"result": 0, "msg": f"service: {exc}", "data": []}), 503)
        return _json(
            success_body(
                paginator(rows, total=total, page=query.page, per_page=query.per_page, path=path)
            )
        )

    for method in ("POST", "GET"):
        app.add_api_route(
            STATISTICS_ROUTE,
            statistics,
            methods=[method],
            openapi_extra=STATISTICS_OPENAPI,
            operation_id=f"getStatisticsList{method.title()}",
            summary="Customer statistics per employee (Laravel paginator envelope)",
            response_class=Response,
        )

    def openapi() -> dict[str, Any]:
        """FastAPI drops None from examples; put the documented answer back as it is sent."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operation in schema["paths"][STATISTICS_ROUTE].values():
                content = operation["responses"]["200"]["content"]["application/json"]
                content["examples"]["ok"]["value"] = SUCCESS_EXAMPLE
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> Response:
        return _json(orjson.dumps({"status": "ok"}))

    @app.get("/readyz", summary="Redis answers and the projection has caught up")
    async def readyz(request: Request) -> Response:
        reader: ProjectionReader = request.app.state.reader
        try:
            await reader.ping()
            layout = await reader.layout()
            if layout is None:
                return _json(orjson.dumps({"ready": False, "reason": "no projection yet"}), 503)
            ready, reason = await reader.readiness(layout)
        except RedisError as exc:
            return _json(orjson.dumps({"ready": False, "reason": f"redis: {exc}"}), 503)
        except ProjectionUnreadable as exc:
            return _json(orjson.dumps({"ready": False, "reason": str(exc)}), 503)
        body = {"ready": ready, "reason": reason, "version": layout.version}
        return _json(orjson.dumps(body), 200 if ready else 503)

    return app
