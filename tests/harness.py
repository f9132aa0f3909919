"""Drive the real projection code (store, Lua, query engine) the way the product does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis
import redis.asyncio as aioredis

from api.params import StatisticsQuery
from api.reader import ProjectionReader
from api.statistics import StatisticsEngine
from events.schema import EVENT_ADAPTER, Event
from projector.applier import Applier
from projector.calendar import LocalCalendar
from projector.cells import CellProjection
from projector.config import ProjectorConfig
from projector.layout import Layout
from projector.runner import ProjectorRunner
from projector.source import MemorySource
from projector.store import ProjectorStore
from projector.versions import current_layout

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOPIC = "customer-events"
QUERY_KEYS = ("name", "department_id", "industry_id", "source_id", "progress_id", "tag_id")


def applier(client: redis.Redis, prefix: str, zone: ZoneInfo = SHANGHAI) -> Applier:
    layout = current_layout(client, prefix)
    projection = CellProjection(layout, LocalCalendar(zone))
    return Applier(ProjectorStore(client, layout), projection, TOPIC)


def parsed(events: Iterable[Mapping[str, Any]]) -> list[Event]:
    return [EVENT_ADAPTER.validate_python(dict(event)) for event in events]


def config(prefix: str, zone: ZoneInfo = SHANGHAI) -> ProjectorConfig:
    """A projector's config for in-process runs (no Kafka: records come from memory)."""
    return ProjectorConfig((), "redis://unused", TOPIC, "unused", prefix, zone)


def memory_runner(
    client: redis.Redis, prefix: str, batches: Iterable[Sequence[Mapping[str, Any]]]
) -> ProjectorRunner:
    """The live projector fed `batches` as its polls, one partition, on from its offset."""
    start = ProjectorStore(client, current_layout(client, prefix)).applied_offsets(TOPIC)
    polls = [[orjson.dumps(event) for event in batch] for batch in batches]
    source = MemorySource.of_values(TOPIC, polls, start.get(0, 0))
    return ProjectorRunner(config(prefix), client, source=source)


def project(
    client: redis.Redis, prefix: str, batches: Iterable[Sequence[Mapping[str, Any]]]
) -> None:
    """Apply each batch as one atomic write, through the production pipeline (read-ahead,
    carried states, fenced commit) until it has caught up."""
    memory_runner(client, prefix, batches).run(until_caught_up=True)


def statistics_query(reference_query: Mapping[str, Any], **extra: Any) -> StatisticsQuery:
    """The StatisticsQuery equivalent to keyword arguments of reference_rows."""
    fields = {key: reference_query[key] for key in QUERY_KEYS if key in reference_query}
    if "date_range" in reference_query:
        fields["date"] = reference_query["date_range"]
    return StatisticsQuery(**fields, **extra)


async def _rows(
    client: aioredis.Redis, prefix: str, tenant_id: int, query: StatisticsQuery, zone: ZoneInfo
) -> tuple[list[dict[str, Any]], int]:
    reader = ProjectionReader(client, prefix)
    layout = await reader.layout()
    assert layout is not None
    page = await StatisticsEngine(reader, LocalCalendar(zone)).page(
        layout, tenant_id, query, opportunity=True
    )
    return page.rows, page.total


def engine_rows(
    async_client_factory: Any,
    prefix: str,
    tenant_id: int,
    query: StatisticsQuery,
    zone: ZoneInfo = SHANGHAI,
) -> tuple[list[dict[str, Any]], int]:
    """Run one query through the engine on a fresh asyncio loop (clients are loop-bound)."""

    async def run() -> tuple[list[dict[str, Any]], int]:
        client = async_client_factory()
        try:
            return await _rows(client, prefix, tenant_id, query, zone)
        finally:
            await client.aclose()

    return asyncio.run(run())


def layout_of(client: redis.Redis, prefix: str) -> Layout:
    return current_layout(client, prefix)
