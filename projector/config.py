"""What the projector needs to run, as a frozen value: built by the CLI layer from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class ProjectorConfig:
    """One deployment's projector settings; the projector never reads the environment."""

    kafka_servers: tuple[str, ...]
    redis_url: str
    topic: str
    group_id: str | None
    """The consumer group; None = `default_group_id(topic)` (see `consumer_group`)."""
    key_prefix: str
    zone: ZoneInfo
    batch_max_records: int = 5000
    startup_timeout_s: float = 15.0
    """How long start-up waits for Redis and the broker before giving up with one line."""
    bulk_rebuild: bool = True
    """A full rebuild first projects the log up to its end offsets in batch mode (bulk.py)."""

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def consumer_group(self) -> str:
        return self.group_id or default_group_id(self.topic)

    @property
    def config_topic(self) -> str:
        return f"{self.topic}.config"


def default_group_id(topic: str) -> str:
    """SPEC §4: `CUSTSTATS_GROUP_ID` defaults to one group per topic, so two deployments on one
    broker (different topics) never share a consumer group."""
    return f"custstats-projector.{topic}"
