"""The HTTP API as tests build it: straight from an `ApiConfig`, no environment involved."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import FastAPI

from api.app import create_app
from api.config import ApiConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")


def api_config(redis_url: str, key_prefix: str, public_base_url: str | None = None) -> ApiConfig:
    return ApiConfig(
        redis_url=redis_url, key_prefix=key_prefix, zone=SHANGHAI, public_base_url=public_base_url
    )


def api_app(redis_url: str, key_prefix: str) -> FastAPI:
    """The app the `custstats api` command would serve for this Redis and prefix."""
    return create_app(api_config(redis_url, key_prefix))
