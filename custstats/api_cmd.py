"""`custstats api`: the HTTP API under uvicorn.

The app is built from settings the CLI validated, never at import time. With
`--workers N` uvicorn starts N processes that each import `app_factory`; they
inherit this process's environment (and read the same `.env`), so each builds
its app from the settings validated here.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from custstats.settings import Settings, masked_url

log = logging.getLogger(__name__)


def app_factory() -> FastAPI:
    """uvicorn's factory for worker processes: settings from the environment."""
    return create_app(Settings().api_config())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")


def run(args: argparse.Namespace, settings: Settings) -> int:
    log.info("serving %s from %s", settings.key_prefix, masked_url(settings.redis()))
    factory = args.workers > 1
    app: str | FastAPI = (
        "custstats.api_cmd:app_factory" if factory else create_app(settings.api_config())
    )
    uvicorn.run(
        app,
        factory=factory,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
    )
    return 0
