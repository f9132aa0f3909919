"""The FastAPI application factory: state, routes and the handlers that map errors to bodies.

Every answer of the statistics endpoint is HTTP 200 with the legacy JSON body
(success, `result: 0` parameter errors, `invalid appid`), because the existing
front end reads the body, not the status; only an unreadable projection is a 503.
Routes raise `ApiError`s; the handlers here are the only place those bodies are made.
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

from api.config import ApiConfig
from api.envelope import JSON, invalid_appid_body, param_error_body
from api.errors import InvalidAppId, ParamError, ServiceUnavailable, StoreUnavailable
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
                    if isinstance(route, APIRoute) and route.responses:
                        _restore_examples(schema, route)
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


async def _invalid_appid(request: Request, exc: Exception) -> Response:
    return Response(invalid_appid_body(), media_type=JSON)


async def _param_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParamError)
    return Response(param_error_body(exc), media_type=JSON)


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceUnavailable)
    if isinstance(exc, StoreUnavailable):
        log.error("redis unavailable: %s", exc)
    body = orjson.dumps({"result": 0, "msg": exc.msg, "data": []})
    return Response(body, status_code=503, media_type=JSON)


def create_app(config: ApiConfig, client: aioredis.Redis | None = None) -> FastAPI:
    """The app of one process; `client` lets a test share its Redis connection."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis_client = client or aioredis.Redis.from_url(config.redis_url)
        reader = ProjectionReader(redis_client, config.key_prefix)
        app.state.config = config
        app.state.reader = reader
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
    )
    app.add_exception_handler(InvalidAppId, _invalid_appid)
    app.add_exception_handler(ParamError, _param_error)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    return app
