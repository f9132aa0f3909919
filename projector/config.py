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
    group_id: str
    key_prefix: str
    zone: ZoneInfo
    batch_max_records: int = 5000
    bulk_rebuild: bool = True
    """A full rebuild first projects the log up to its end offsets in batch mode (bulk.py)."""

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"
