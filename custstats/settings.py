"""All runtime settings in one frozen class, read from CUSTSTATS_* variables or a .env file."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projector.config import ProjectorConfig

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    """Settings of one deployment; several deployments share servers through topic and prefix."""

    model_config = SettingsConfigDict(
        env_prefix="CUSTSTATS_", env_file=".env", frozen=True, extra="ignore"
    )

    kafka_bootstrap: str | None = Field(
        default=None, description="host:port,... of the Kafka brokers; unset = embedded in dev"
    )
    redis_url: str | None = Field(
        default=None, description="redis:// URL of the projection store; unset = embedded in dev"
    )
    topic: str = Field(default="customer-events", min_length=1, max_length=200)
    group_id: str = Field(default="custstats-projector", min_length=1)
    display_tz: str = Field(default="Asia/Shanghai")
    public_base_url: str | None = None
    key_prefix: str = Field(default="custstats", min_length=1, pattern=r"^[^{}\s]+$")
    partitions: int = Field(default=4, ge=1, le=1024, description="partitions of a topic we create")
    batch_max_records: int = Field(default=5000, ge=1, le=100_000)

    @field_validator("display_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_tz)

    def kafka_servers(self) -> list[str]:
        return (self.kafka_bootstrap or DEFAULT_KAFKA).split(",")

    def redis(self) -> str:
        return self.redis_url or DEFAULT_REDIS

    def projector_config(self) -> ProjectorConfig:
        """The projector's part of these settings (the projector never imports custstats)."""
        return ProjectorConfig(
            kafka_servers=tuple(self.kafka_servers()),
            redis_url=self.redis(),
            topic=self.topic,
            group_id=self.group_id,
            key_prefix=self.key_prefix,
            zone=self.zone,
            batch_max_records=self.batch_max_records,
        )
