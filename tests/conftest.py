"""Shared fixtures: real servers for integration tests, each test isolated by its own names."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings as hypothesis_settings

# kafka-python 3.0 calls deprecated importlib.resources APIs while it is imported; with warnings
# as errors that would break every test touching Kafka, so import it once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from custstats.servers import EmbeddedBroker, EmbeddedRedis
from tests.support.servers import (
    Deployment,
    EnvFactory,
    TopicFactory,
    answers_ping,
    delete_prefixed,
)

LOCAL_REDIS = "redis://127.0.0.1:6379/0"

# Hypothesis' per-example deadline is a timing assertion: on a busy CI machine it fails tests
# whose behaviour is right. Tests assert behaviour; speed is measured in bench/.
hypothesis_settings.register_profile("custstats", deadline=None)
hypothesis_settings.load_profile("custstats")


def pytest_configure(config: pytest.Config) -> None:
    """The coverage gate (`fail_under`) judges the whole suite: a run of chosen tests (paths,
    -k, -m, --lf) measures coverage but is not held to it."""
    plugin: Any = config.pluginmanager.get_plugin("_cov")
    whole = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.keyword
        and not config.option.markexpr
        and not getattr(config.option, "lf", False)
    )
    if plugin is not None and not whole:
        plugin.options.cov_fail_under = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """$CUSTSTATS_TEST_REDIS_URL, else a local Redis on 6379, else a Valkey started for us."""
    override = os.environ.get("CUSTSTATS_TEST_REDIS_URL")
    if override:
        yield override
    elif answers_ping(LOCAL_REDIS):
        yield LOCAL_REDIS
    else:
        with EmbeddedRedis() as server:
            yield server.url


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_prefixed(redis_url, prefix)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    """A server of this test's own, for tests that restart or empty it."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("tansu") / "broker.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: EmbeddedBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def make_topic(kafka_broker: EmbeddedBroker) -> TopicFactory:
    """Creates a fresh topic (and its `.dlq`) on the session broker, so tests share nothing."""

    def make(partitions: int = 4) -> str:
        topic = f"t-{uuid.uuid4().hex}"
        kafka_broker.create_topic(topic, partitions)
        kafka_broker.create_topic(f"{topic}.dlq", 1)
        return topic

    return make


@pytest.fixture
def settings_env(
    kafka_bootstrap: str, redis_url: str, make_topic: TopicFactory, key_prefix: str
) -> EnvFactory:
    """Environment for `custstats` subprocesses; other CUSTSTATS_* variables are dropped."""

    def env(topic: str | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CUSTSTATS_")}
        return base | {
            "CUSTSTATS_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "CUSTSTATS_REDIS_URL": redis_url,
            "CUSTSTATS_TOPIC": topic or make_topic(),
            "CUSTSTATS_GROUP_ID": f"{key_prefix}-group",
            "CUSTSTATS_KEY_PREFIX": key_prefix,
            "CUSTSTATS_DISPLAY_TZ": "Asia/Shanghai",
        }

    return env


@pytest.fixture
def deployment(
    kafka_bootstrap: str,
    redis_url: str,
    redis_client: redis.Redis,
    key_prefix: str,
    make_topic: TopicFactory,
    settings_env: EnvFactory,
    tmp_path: Path,
) -> Deployment:
    """The servers, names and scratch directory of one test, bundled."""
    return Deployment(
        kafka_bootstrap, redis_url, redis_client, key_prefix, make_topic, settings_env, tmp_path
    )
