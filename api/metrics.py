"""Prometheus metrics of the HTTP API: requests by route and outcome, and their latency.

`install(app)` adds an ASGI middleware that times every request and `GET /metrics`.
The route label is the route's template (`/api/{tenant_id}/...`), never the raw path,
and unmatched paths share one label value, so the label set stays bounded; the outcome
is one of `OUTCOMES`, set by the handler with `set_outcome` (the legacy API answers 200
for a bad parameter or an unknown appid) or else derived from the status code.

Several uvicorn workers (`custstats api --workers N`) are several processes; each keeps
its own counts, so they use prometheus-client's multiprocess mode: every worker writes
its values to files in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker sums them all.
The variable must be set before the workers import prometheus_client, and the directory
must be empty when they start: `custstats api` does both with `multiprocess_dir()` around
`uvicorn.run` (it creates a private temporary directory, or empties the one given, and
removes the temporary one on exit). With one worker nothing of this is needed: the
metrics live in the app's registry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Outcome = Literal["ok", "bad_param", "invalid_appid", "unavailable"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "bad_param", "invalid_appid", "unavailable")
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404): raw paths are unbounded."""
ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STATE_KEY = "custstats_outcome"


class ApiMetrics:
    """The API's metric objects, created in the registry given (a fresh one per app)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "custstats_http_requests_total",
            "HTTP requests answered, by route template and outcome.",
            ["route", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "custstats_http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str, outcome: Outcome, seconds: float) -> None:
        self.requests.labels(route=route, outcome=outcome).inc()
        self.latency.labels(route=route).observe(seconds)


def set_outcome(request: Request, outcome: Outcome) -> None:
    """Name the outcome of this request for the metrics (when the status does not say it)."""
    request.scope.setdefault("state", {})[_STATE_KEY] = outcome


def outcome_for_status(status: int) -> Outcome:
    """The outcome of a request whose handler named none: 5xx unavailable, 4xx bad_param."""
    if status >= 500:
        return "unavailable"
    if status >= 400:
        return "bad_param"
    return "ok"


def route_template(scope: Scope, path: str, routes: Sequence[BaseRoute] = ()) -> str:
    """The matched route's path template, which the router sets in the scope; for a mount
    (FastAPI's router sets none) the mount's own path; else UNMATCHED."""
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str) and template:
        return template
    for route in routes:
        if isinstance(route, Mount) and route.path_regex.match(path):
            return route.path or "/"
    return UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request (streamed bodies included)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        """The app's routes (the live list), for the templates of mounts."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        status = 500  # an exception before the answer started is a 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            state: MutableMapping[str, Any] = scope.get("state") or {}
            outcome = state.get(_STATE_KEY) or outcome_for_status(status)
            route = route_template(scope, path, self.routes)
            self.metrics.observe(route, outcome, time.perf_counter() - started)


def multiprocess_active() -> bool:
    """True when this process's metric values live in PROMETHEUS_MULTIPROC_DIR files.

    prometheus_client decides once, when it is imported; the variable set later changes
    nothing in this process (but does in the worker processes started after).
    """
    return values.ValueClass is not values.MutexValue and bool(os.environ.get(ENV))


def render_latest(source: CollectorRegistry | str | os.PathLike[str]) -> tuple[bytes, str]:
    """The text exposition of a registry, or the sum of all processes' files in a directory."""
    if isinstance(source, CollectorRegistry):
        registry = source
    else:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=os.fspath(source))  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_response(metrics: ApiMetrics) -> Response:
    """The body of `GET /metrics`: every worker's values when in multiprocess mode."""
    source: CollectorRegistry | str = os.environ[ENV] if multiprocess_active() else metrics.registry
    body, content_type = render_latest(source)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


def install(app: Starlette, registry: CollectorRegistry | None = None) -> ApiMetrics:
    """Add the metrics middleware and `GET /metrics` (not in the OpenAPI document) to a
    FastAPI/Starlette app; returns the metrics so a test can read their registry."""
    metrics = ApiMetrics(registry if registry is not None else CollectorRegistry())

    async def metrics_endpoint(request: Request) -> Response:
        return metrics_response(metrics)

    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)
    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    return metrics


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> Path:
    """Create the directory, delete the value files of a previous run, export PROMETHEUS_
    MULTIPROC_DIR for the processes started after; call before starting the workers."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[ENV] = str(directory)
    return directory


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Worker-exit hook: drop the dead worker's live-gauge files (counters and histograms
    keep their files: a dead worker's requests still happened)."""
    directory = path if path is not None else os.environ.get(ENV)
    if directory:
        multiprocess.mark_process_dead(pid, os.fspath(directory))  # type: ignore[no-untyped-call]


@contextmanager
def multiprocess_dir(path: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """For `custstats api --workers N` (N > 1): a prepared directory for the run.

    `path` None: a private temporary directory, removed at exit; else the given one,
    emptied of old value files (and left in place). The variable is restored at exit.
    """
    previous = os.environ.get(ENV)
    temporary = path is None
    directory = prepare_multiprocess_dir(
        tempfile.mkdtemp(prefix="custstats-metrics-") if path is None else path
    )
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
