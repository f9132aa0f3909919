"""`custstats api`: the HTTP API under uvicorn.

The app is built from settings the CLI validated, never at import time. With
`--workers N` uvicorn starts N processes that each import `app_factory`; they
inherit this process's environment (and read the same `.env`), so each builds
its app from the settings validated here. Their metrics are summed through
prometheus-client's multiprocess directory, which this command owns for the run
(`api.metrics.multiprocess_dir`), and each configures its logging as the CLI did.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.metrics import multiprocess_dir
from api.serve import server_options
from custstats.logs import configure_logging, redact, url_password
from custstats.settings import Settings, masked_url

log = logging.getLogger(__name__)

LOG_FORMAT_ENV = "CUSTSTATS_API_LOG_FORMAT"
LOG_LEVEL_ENV = "CUSTSTATS_API_LOG_LEVEL"
"""How the CLI configured logging, handed to the worker processes (which start afresh)."""


def app_factory() -> FastAPI:
    """uvicorn's factory for worker processes: logging as the parent's (when started by `run`),
    settings from the environment."""
    fmt = os.environ.get(LOG_FORMAT_ENV)
    if fmt is not None:
        level = int(os.environ.get(LOG_LEVEL_ENV, logging.INFO))
        configure_logging(level, "json" if fmt == "json" else "text")
    settings = Settings()
    redact([url_password(settings.redis())])
    return create_app(settings.api_config())


@contextmanager
def _workers_env(log_format: str) -> Iterator[None]:
    """For the worker processes: how to log, and the metrics directory (both undone at exit)."""
    saved = {name: os.environ.get(name) for name in (LOG_FORMAT_ENV, LOG_LEVEL_ENV)}
    os.environ[LOG_FORMAT_ENV] = log_format
    os.environ[LOG_LEVEL_ENV] = str(logging.getLogger().getEffectiveLevel())
    try:
        with multiprocess_dir(os.environ.get("PROMETHEUS_MULTIPROC_DIR")):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")


def run(args: argparse.Namespace, settings: Settings) -> int:
    log.info("serving %s from %s", settings.key_prefix, masked_url(settings.redis()))
    factory = args.workers > 1
    app: str | FastAPI = (
        "custstats.api_cmd:app_factory" if factory else create_app(settings.api_config())
    )
    workers_env: AbstractContextManager[object] = nullcontext()
    if factory:
        workers_env = _workers_env(str(getattr(args, "log_format", "text")))
    with workers_env:
        uvicorn.run(
            app,
            factory=factory,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **server_options(),
        )
    return 0
