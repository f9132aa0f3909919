"""Liveness and readiness, for process supervisors and load balancers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ReaderDep
from api.envelope import JSON
from api.errors import ServiceUnavailable, store_errors

router = APIRouter()


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return _json({"status": "ok"}, 200)


@router.get("/readyz", summary="Redis answers and the projection has caught up")
async def readyz(reader: ReaderDep) -> Response:
    """200 once ready; 503 with the reason otherwise (not ready is an answer, not an error)."""
    try:
        with store_errors():
            await reader.ping()
            layout = await reader.layout()
            if layout is None:
                return _json({"ready": False, "reason": "no projection yet"}, 503)
            verdict = await reader.readiness(layout)
    except ServiceUnavailable as exc:
        return _json({"ready": False, "reason": exc.reason}, 503)
    body = {"ready": verdict.ready, "reason": verdict.reason, "version": layout.version}
    return _json(body, 200 if verdict.ready else 503)
