"""Settings: the secret Redis URL, its mask, and the explicit config the API gets."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from pydantic import SecretStr, ValidationError

from custstats import api_cmd
from custstats.settings import (
    DEFAULT_REDIS,
    Settings,
    masked_url,
    setting_error,
)
from projector.config import default_group_id


def settings(**fields: Any) -> Settings:
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@redis.internal:6379/0", "redis://:***@redis.internal:6379/0"),
        ("rediss://app:s3cret@redis.internal/2", "rediss://app:***@redis.internal/2"),
        ("redis://app:s3cret@[::1]:6380", "redis://app:***@[::1]:6380"),
    ],
)
def test_masked_url_hides_only_the_password(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_redis_url_is_a_secret_everywhere_but_redis() -> None:
    url = "redis://:s3cret@redis.internal:6379/0"
    configured = settings(redis_url=url)
    assert isinstance(configured.redis_url, SecretStr)
    assert "s3cret" not in repr(configured) and "s3cret" not in configured.model_dump_json()
    assert configured.redis() == url
    assert settings().redis() == DEFAULT_REDIS


def test_api_config_carries_what_the_api_needs_and_hides_the_url() -> None:
    configured = settings(
        redis_url="redis://:s3cret@h:1/0",
        key_prefix="p",
        display_tz="UTC",
        public_base_url="https://stats.example.com",
    )
    config = configured.api_config()
    assert (config.redis_url, config.key_prefix, config.zone, config.public_base_url) == (
        "redis://:s3cret@h:1/0",
        "p",
        ZoneInfo("UTC"),
        "https://stats.example.com",
    )
    assert "s3cret" not in repr(config)


def test_with_servers_keeps_the_url_secret() -> None:
    moved = settings().with_servers("127.0.0.1:9", "redis://127.0.0.1:7/0")
    assert isinstance(moved.redis_url, SecretStr)
    assert (moved.kafka_bootstrap, moved.redis()) == ("127.0.0.1:9", "redis://127.0.0.1:7/0")


@pytest.mark.parametrize("workers", [1, 3])
def test_api_command_serves_an_app_built_from_the_validated_settings(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options, app=app))
    parser = argparse.ArgumentParser()
    api_cmd.configure(parser)
    args = parser.parse_args(["--workers", str(workers), "--port", "8123"])
    assert api_cmd.run(args, settings(key_prefix="served")) == 0
    assert (served["workers"], served["port"], served["factory"]) == (workers, 8123, workers > 1)
    if workers == 1:
        assert served["app"].title == "custstats"
    else:
        assert served["app"] == "custstats.api_cmd:app_factory"


def test_app_factory_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTSTATS_KEY_PREFIX", "from-env")
    app = api_cmd.app_factory()
    assert app.title == "custstats"


def test_group_id_defaults_to_one_group_per_topic() -> None:
    """Issue 10 finding 6: two deployments on one broker with different topics never share a
    consumer group unless the operator says so."""
    assert settings().consumer_group == "custstats-projector.customer-events"
    assert settings(topic="orders").consumer_group == "custstats-projector.orders"
    assert settings(topic="orders").projector_config().consumer_group == (
        "custstats-projector.orders"
    )
    assert settings(topic="orders", group_id="mine").consumer_group == "mine"
    assert default_group_id("a.b") == "custstats-projector.a.b"


def test_trusted_proxies_and_ready_max_lag_have_their_defaults_and_are_checked() -> None:
    assert (settings().trusted_proxies, settings().ready_max_lag) == ("127.0.0.1", 10_000)
    assert settings(trusted_proxies="10.0.0.0/8, ::1").trusted_proxies == "10.0.0.0/8, ::1"
    with pytest.raises(ValidationError) as bad:
        settings(trusted_proxies="10.0.0.0/8,proxy.internal")
    assert setting_error(bad.value) == (
        "CUSTSTATS_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network"
    )
    with pytest.raises(ValidationError) as negative:
        settings(ready_max_lag=-1)
    assert setting_error(negative.value).startswith("CUSTSTATS_READY_MAX_LAG: ")


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"display_tz": "Mars/Base"}, "CUSTSTATS_DISPLAY_TZ: unknown time zone 'Mars/Base'"),
        (
            {"partitions": "many"},
            "CUSTSTATS_PARTITIONS: Input should be a valid integer, unable to parse string as an "
            "integer (got 'many')",
        ),
        (
            {"key_prefix": "a b"},
            "CUSTSTATS_KEY_PREFIX: String should match pattern '^[^{}\\s]+$' (got 'a b')",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_variable(fields: dict[str, Any], line: str) -> None:
    with pytest.raises(ValidationError) as bad:
        settings(**fields)
    assert setting_error(bad.value) == line


def test_a_bad_redis_url_is_never_echoed() -> None:
    with pytest.raises(ValidationError) as bad:
        settings(redis_url=["redis://:s3cret@h/0"])
    text = setting_error(bad.value)
    assert text.startswith("CUSTSTATS_REDIS_URL: ")
    assert "s3cret" not in text
