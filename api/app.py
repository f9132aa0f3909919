"""The FastAPI application factory: state, routes and the handlers that map errors to bodies.

Every answer of the statistics endpoint is HTTP 200 with the legacy JSON body
(success, `result: 0` parameter errors, `invalid appid`), because the existing
front end reads the body, not the status; only what cannot be answered now (Redis
unreachable, the projection being rebuilt, operator settings being restored) is a 503
with `Retry-After`. Routes raise `ApiError`s (and the body guard `BodyRejected`); the
handlers here are the only place those bodies are made, and they name each request's
outcome for the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from api import docs, metrics
from api.body import BodyGuard, BodyRejected
from api.config import ApiConfig
from api.envelope import JSON, invalid_appid_body, param_error_body
from api.errors import (
    RETRY_AFTER_SECONDS,
    InvalidAppId,
    ParamError,
    ServiceUnavailable,
    StoreUnavailable,
)
from api.freshness import headers_of, remembered
from api.proxies import TrustedProxies
from api.reader import ProjectionReader
from api.routes import health, statistics
from api.statistics import StatisticsEngine
from projector.calendar import LocalCalendar

log = logging.getLogger(__name__)


class LegacyAPI(FastAPI):
    """FastAPI drops every null from the OpenAPI document (`exclude_none`); the examples declared
    on the routes are published as declared, nulls included, because clients receive them."""

    def __init__(self, routers: Sequence[APIRouter], **options: Any) -> None:
        super().__init__(**options)
        self.legacy_routers = tuple(routers)
        for router in self.legacy_routers:
            self.include_router(router)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            for router in self.legacy_routers:
                for route in router.routes:
                    if isinstance(route, APIRoute) and route.responses and route.include_in_schema:
                        _restore_examples(schema, route)
            _drop_validation_errors(schema)
        return super().openapi()


def _restore_examples(schema: dict[str, Any], route: APIRoute) -> None:
    operations = schema["paths"][route.path_format]
    for method in route.methods or ():
        responses = operations[method.lower()]["responses"]
        for status, declared in route.responses.items():
            for media, content in declared.get("content", {}).items():
                published = responses[str(status)]["content"][media].get("examples", {})
                for name, example in content.get("examples", {}).items():
                    published[name]["value"] = example["value"]


def _drop_validation_errors(schema: dict[str, Any]) -> None:
    """FastAPI lists a 422 for every route with parameters; no route here ever answers one (the
    tenant is a plain string, parameters are the legacy `result: 0` answers)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if "components" in schema and not schemas:
        schema["components"].pop("schemas", None)
        if not schema["components"]:
            del schema["components"]


async def _invalid_appid(request: Request, exc: Exception) -> Response:
    metrics.set_outcome(request, "invalid_appid")
    headers = headers_of(remembered(request))
    return Response(invalid_appid_body(), media_type=JSON, headers=headers)


async def _param_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParamError)
    metrics.set_outcome(request, "bad_param")
    headers = headers_of(remembered(request))
    return Response(param_error_body(exc), media_type=JSON, headers=headers)


async def _body_rejected(request: Request, exc: Exception) -> Response:
    """The body guard's verdict as the legacy `body: ...` error; the connection is closed, so
    the server stops reading what is left of the body."""
    assert isinstance(exc, BodyRejected)
    metrics.set_outcome(request, "bad_param")
    headers = {**headers_of(remembered(request)), "Connection": "close"}
    body = param_error_body(ParamError(exc.parameter, str(exc)))
    return Response(body, media_type=JSON, headers=headers)


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    """The client went away mid-body: nobody reads this answer, and it is no server error."""
    log.debug(
        "client disconnected before its body was read: %s %s", request.method, request.url.path
    )
    metrics.set_outcome(request, "bad_param")
    return Response(status_code=400, headers={"Connection": "close"})


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceUnavailable)
    if isinstance(exc, StoreUnavailable):
        log.error("redis unavailable: %s", exc)
    metrics.set_outcome(request, "unavailable")
    body = orjson.dumps({"result": 0, "msg": exc.msg, "data": []})
    headers = {**headers_of(remembered(request)), "Retry-After": str(RETRY_AFTER_SECONDS)}
    return Response(body, status_code=503, media_type=JSON, headers=headers)


def create_app(config: ApiConfig, client: aioredis.Redis | None = None) -> FastAPI:
    """The app of one process; `client` lets a test share its Redis connection."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis_client = client or aioredis.Redis.from_url(config.redis_url)
        reader = ProjectionReader(redis_client, config.key_prefix, config.topic)
        app.state.config = config
        app.state.reader = reader
        app.state.proxies = TrustedProxies.from_list(config.trusted_proxies)
        app.state.engine = StatisticsEngine(reader, LocalCalendar(config.zone))
        yield
        if client is None:
            await redis_client.aclose()

    app = LegacyAPI(
        (statistics.router, health.router),
        title="custstats",
        version="0.1.0",
        description="Customer statistics per employee, answered from projections kept by "
        "consuming the event log. Byte-compatible with the legacy getStatisticsList endpoint.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would echo the client's Host (issue 10, finding 7)
    )
    docs.install(app)
    app.add_exception_handler(InvalidAppId, _invalid_appid)
    app.add_exception_handler(ParamError, _param_error)
    app.add_exception_handler(BodyRejected, _body_rejected)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    app.add_middleware(BodyGuard)  # inside the metrics: a refused body is counted
    metrics.install(app)
    return app
