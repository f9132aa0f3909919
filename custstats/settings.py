"""All runtime settings in one frozen class, read from CUSTSTATS_* variables or a .env file."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.config import ApiConfig
from api.proxies import ProxySpecError, TrustedProxies
from projector.config import ProjectorConfig, default_group_id

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
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis:// URL of the projection store (may hold a password: a secret); "
        "unset = embedded in dev",
    )
    topic: str = Field(default="customer-events", min_length=1, max_length=200)
    group_id: str | None = Field(
        default=None,
        min_length=1,
        description="the projectors' consumer group; unset = custstats-projector.<topic>",
    )
    display_tz: str = Field(default="Asia/Shanghai")
    public_base_url: str | None = None
    trusted_proxies: str = Field(
        default="127.0.0.1",
        description="addresses/networks whose X-Forwarded-Proto/Host are honoured ('*' = all)",
    )
    ready_max_lag: int = Field(
        default=10_000, ge=0, description="/readyz is 503 while a partition lags more records"
    )
    key_prefix: str = Field(default="custstats", min_length=1, pattern=r"^[^{}\s]+$")
    partitions: int = Field(default=4, ge=1, le=1024, description="partitions of a topic we create")
    batch_max_records: int = Field(default=5000, ge=1, le=100_000)
    bulk_rebuild: bool = Field(default=True, description="rebuild in batch mode up to the end")

    @field_validator("display_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        try:
            TrustedProxies.from_list(value)
        except ProxySpecError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def consumer_group(self) -> str:
        """The projectors' group: CUSTSTATS_GROUP_ID, else one per topic (issue 10 finding 6)."""
        return self.group_id or default_group_id(self.topic)

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_tz)

    def kafka_servers(self) -> list[str]:
        return (self.kafka_bootstrap or DEFAULT_KAFKA).split(",")

    def redis(self) -> str:
        """The Redis URL in the clear, for connecting only: log or print `masked_url(...)`."""
        return self.redis_url.get_secret_value() if self.redis_url else DEFAULT_REDIS

    def with_servers(self, kafka_bootstrap: str, redis_url: str) -> Settings:
        """These settings pointed at other servers (`dev`'s embedded ones)."""
        return self.model_copy(
            update={"kafka_bootstrap": kafka_bootstrap, "redis_url": SecretStr(redis_url)}
        )

    def api_config(self) -> ApiConfig:
        """What the HTTP API needs: it never reads settings itself."""
        return ApiConfig(
            redis_url=self.redis(),
            key_prefix=self.key_prefix,
            zone=self.zone,
            public_base_url=self.public_base_url,
            topic=self.topic,
            trusted_proxies=self.trusted_proxies,
            ready_max_lag=self.ready_max_lag,
        )

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
            bulk_rebuild=self.bulk_rebuild,
        )


def setting_error(exc: ValidationError) -> str:
    """The first problem of a ValidationError as one line naming its environment variable:
    `CUSTSTATS_DISPLAY_TZ: unknown time zone 'Mars/Base'`."""
    problems = []
    for error in exc.errors():
        where = "_".join(str(part) for part in error["loc"] if part != "__root__")
        name = f"CUSTSTATS_{where.upper()}" if where else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        given = error.get("input")
        secret = where == "redis_url"  # never echo what may hold a password
        if error["type"] != "value_error" and not secret and isinstance(given, str | int):
            message += f" (got {given!r})"
        problems.append(f"{name}: {message}")
    return "; ".join(problems)


def masked_url(url: str) -> str:
    """`url` without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
