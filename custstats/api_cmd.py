"""`custstats api`: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from custstats.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")


def run(args: argparse.Namespace, settings: Settings) -> int:
    uvicorn.run(
        "api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
    )
    return 0
