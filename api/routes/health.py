"""Liveness and readiness, for process supervisors and load balancers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ConfigDep, ReaderDep
from api.envelope import JSON
from api.errors import ServiceUnavailable, store_errors
from api.openapi import READYZ_RESPONSES
from projector import control

router = APIRouter()


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return _json({"status": "ok"}, 200)


@router.get(
    "/readyz",
    summary="Redis answers, the projection is complete, its lag is bounded, settings restored",
    responses=READYZ_RESPONSES,
)
async def readyz(reader: ReaderDep, config: ConfigDep) -> Response:
    """200 once ready; 503 with the reason otherwise (not ready is an answer, not an error)."""
    try:
        with store_errors():
            await reader.ping()
            layout = await reader.layout()
            status = await reader.status(layout)
    except ServiceUnavailable as exc:
        return _json({"ready": False, "reason": exc.reason}, 503)
    if layout is None:
        return _json({"ready": False, "reason": "no projection yet", "lag": status.lag}, 503)
    ready, reason = control.ready_verdict(
        status.complete, status.lags, config.ready_max_lag, status.restored
    )
    body = {
        "ready": ready,
        "reason": reason,
        "version": layout.version,
        "lag": status.lag,
        "complete_percent": status.completeness.percent,
    }
    return _json(body, 200 if ready else 503)
