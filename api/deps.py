"""Dependencies of the routes as `Annotated` aliases: what the lifespan built, per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.config import ApiConfig
from api.proxies import TrustedProxies
from api.reader import ProjectionReader
from api.statistics import StatisticsEngine


def get_config(request: Request) -> ApiConfig:
    config: ApiConfig = request.app.state.config
    return config


def get_reader(request: Request) -> ProjectionReader:
    reader: ProjectionReader = request.app.state.reader
    return reader


def get_engine(request: Request) -> StatisticsEngine:
    engine: StatisticsEngine = request.app.state.engine
    return engine


def get_proxies(request: Request) -> TrustedProxies:
    proxies: TrustedProxies = request.app.state.proxies
    return proxies


ConfigDep = Annotated[ApiConfig, Depends(get_config)]
ReaderDep = Annotated[ProjectionReader, Depends(get_reader)]
EngineDep = Annotated[StatisticsEngine, Depends(get_engine)]
ProxiesDep = Annotated[TrustedProxies, Depends(get_proxies)]
