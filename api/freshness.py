"""The freshness headers of SPEC §3, from the projection status the request read.

`X-Custstats-Lag` is the records of the topic not yet applied, summed over the partitions
whose end offset a projector reported; `X-Custstats-Applied-At` the RFC 3339 UTC time
(milliseconds, `Z`) of the last applied batch, or `-` when no batch was ever applied to
the version being read. Every answer of the statistics endpoint is `Cache-Control:
no-store`: it is a view of a moving projection, and a cached copy would hide the lag.
"""

from __future__ import annotations

import datetime

from starlette.requests import Request

from api.reader import ProjectionStatus

LAG = "X-Custstats-Lag"
APPLIED_AT = "X-Custstats-Applied-At"
NEVER_APPLIED = "-"
NO_STORE = {"Cache-Control": "no-store"}
_STATE_KEY = "custstats_status"


def applied_at_text(applied_at_ms: int | None) -> str:
    """RFC 3339 UTC with milliseconds and `Z`; `-` for never."""
    if applied_at_ms is None:
        return NEVER_APPLIED
    stamp = datetime.datetime.fromtimestamp(applied_at_ms / 1000, datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def headers_of(status: ProjectionStatus | None) -> dict[str, str]:
    """`Cache-Control`, plus the two freshness headers once the request read the status."""
    if status is None:
        return dict(NO_STORE)
    return {**NO_STORE, LAG: str(status.lag), APPLIED_AT: applied_at_text(status.applied_at_ms)}


def remember(request: Request, status: ProjectionStatus) -> None:
    """Keep the status for the answer's headers, whichever handler makes the answer."""
    request.scope.setdefault("state", {})[_STATE_KEY] = status


def remembered(request: Request) -> ProjectionStatus | None:
    state = request.scope.get("state") or {}
    status: ProjectionStatus | None = state.get(_STATE_KEY)
    return status
