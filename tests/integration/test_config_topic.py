"""Operator settings on `<topic>.config` (SPEC §4) with a real Tansu broker and a real Redis.

A Redis restart without persistence is simulated by deleting this test's prefix
(SCAN + UNLINK, never FLUSHDB): the settings must come back from the topic, and
until they are back a tenant without settings in Redis is "restoring", not open.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from custstats.servers import EmbeddedBroker
from events.tenant_config import TenantConfig, now_rfc3339
from projector.config_follower import ConfigFollower, start_following
from projector.config_store import ConfigStore
from projector.config_topic import (
    config_topic_of,
    ensure_config_topic,
    open_consumer,
    open_producer,
    publish_tenant_config,
    read_config_topic,
)
from projector.config_upgrade import prepare_config_topic, publish_existing_settings
from projector.config_writer import Change, write_tenant_setting
from projector.tenant_config import ConfigKeys, Protection, protection
from tests.support.servers import delete_prefixed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

DIGEST = hashlib.sha256(b"s3cret").hexdigest()


def setting(
    tenant: int, registered: bool = True, mode: str = "auto", key: str | None = None
) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "schema_version": 1,
            "tenant_id": tenant,
            "registered": registered,
            "opportunity": mode,
            "api_key_sha256": key,
            "updated_at": now_rfc3339(),
        }
    )


@pytest.fixture
def config_topic(kafka_broker: EmbeddedBroker) -> Iterator[str]:
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap, request_timeout_ms=10_000)
    topic = config_topic_of(f"t-{uuid.uuid4().hex}")
    try:
        assert ensure_config_topic(admin, topic) is True
        assert ensure_config_topic(admin, topic) is False
    finally:
        admin.close()
    yield topic


@pytest.fixture
def producer(kafka_bootstrap: str) -> Iterator[KafkaProducer]:
    sender = open_producer([kafka_bootstrap])
    yield sender
    sender.close(timeout=5)


@pytest.fixture
def consumer(kafka_bootstrap: str) -> Iterator[KafkaConsumer]:
    reader = open_consumer([kafka_bootstrap], max_poll_records=1)
    yield reader
    reader.close()


@pytest.fixture
def store(redis_client: redis.Redis, key_prefix: str) -> ConfigStore:
    return ConfigStore(redis_client, key_prefix)


def redis_state(client: redis.Redis, prefix: str, tenants: list[int]) -> dict[str, Any]:
    keys = ConfigKeys(prefix)
    members = {int(m) for m in client.smembers(keys.registered)}
    return {
        "registered": sorted(members),
        "configs": {t: client.hgetall(keys.tenant(t)) for t in tenants},
    }


def test_a_redis_that_lost_its_state_gets_the_settings_back_by_replay(
    config_topic: str,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    store: ConfigStore,
    redis_client: redis.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    publish_tenant_config(producer, config_topic, setting(1, key=DIGEST))
    publish_tenant_config(producer, config_topic, setting(2, mode="off"))
    publish_tenant_config(producer, config_topic, setting(3, mode="on"))
    publish_tenant_config(producer, config_topic, setting(3, registered=False, mode="off"))
    follower = ConfigFollower(consumer, store, config_topic)
    assert follower.restore(timeout_s=30)
    before = redis_state(redis_client, key_prefix, [1, 2, 3])
    assert before["registered"] == [1, 2]
    assert before["configs"][1][b"api_key"] == DIGEST.encode()
    assert before["configs"][3][b"opportunity"] == b"off"

    delete_prefixed(redis_url, key_prefix)  # Redis restarted without persistence
    assert protection(store.restored(), redis_client.hgetall(store.keys.tenant(1))) is (  # type: ignore[arg-type]
        Protection.RESTORING
    )
    assert protection(store.restored(), {}) is Protection.RESTORING  # a tenant never configured

    restored_at: list[int] = []
    for _ in range(200):
        step = follower.step(timeout_ms=200)
        if step.restarted:
            continue
        applied_through = store.positions().get(0, 0)
        if step.restored:
            restored_at.append(applied_through)
            break
        assert not store.restored(), f"marked restored at {applied_through} of 4"
    assert restored_at == [4]
    assert redis_state(redis_client, key_prefix, [1, 2, 3]) == before
    assert protection(store.restored(), {}) is Protection.OPEN
    assert protection(True, redis_client.hgetall(store.keys.tenant(1))) is Protection.KEYED  # type: ignore[arg-type]


def test_a_stale_write_never_overwrites_a_newer_one(
    config_topic: str, producer: KafkaProducer, consumer: KafkaConsumer, store: ConfigStore
) -> None:
    older, newer = setting(5, key=DIGEST), setting(5, mode="on")
    first = publish_tenant_config(producer, config_topic, older)
    second = publish_tenant_config(producer, config_topic, newer)
    assert store.apply([(second, newer)]).applied == 1  # the CLI wrote the newer one directly
    follower = ConfigFollower(consumer, store, config_topic)
    assert follower.restore(timeout_s=30)
    assert store.apply([(first, older)]).stale == 1  # a late direct write of the older one
    state = store.read(5)
    assert state.config == {"opportunity": "on", "config_partition": "0", "config_offset": "1"}
    assert first.offset < second.offset


def test_malformed_config_records_are_skipped_and_reported(
    config_topic: str, producer: KafkaProducer, consumer: KafkaConsumer, store: ConfigStore
) -> None:
    producer.send(config_topic, key=b"8", value=b"{not json")
    producer.send(config_topic, key=b"nope", value=b"{}")
    publish_tenant_config(producer, config_topic, setting(8, key=DIGEST))
    seen: list[str] = []
    follower = ConfigFollower(
        consumer, store, config_topic, on_bad=lambda _, bad: seen.append(bad.reason)
    )
    assert follower.restore(timeout_s=30)
    assert seen == ["tenant 8: value: invalid JSON", "key is not a tenant id: b'nope'"]
    assert store.read(8).config["api_key"] == DIGEST
    assert read_config_topic(consumer, config_topic).bad[0][0].offset == 0


def test_settings_only_in_redis_are_published_once(
    config_topic: str,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    store: ConfigStore,
    redis_client: redis.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    keys = store.keys
    redis_client.sadd(keys.registered, "11", "12")
    redis_client.hset(keys.tenant(12), mapping={"api_key": DIGEST, "opportunity": "off"})
    redis_client.hset(keys.tenant(13), mapping={"opportunity": "on"})
    redis_client.hset(keys.tenant(14), mapping={"api_key": "not-a-digest"})
    publish_tenant_config(producer, config_topic, setting(11))

    first = publish_existing_settings(redis_client, key_prefix, producer, consumer, config_topic)
    assert (first.published, first.already) == ([12, 13], 1)
    assert [tenant for tenant, _ in first.refused] == [14]
    again = publish_existing_settings(redis_client, key_prefix, producer, consumer, config_topic)
    assert (again.published, again.already) == ([], 3)

    latest = read_config_topic(consumer, config_topic).latest
    assert sorted(latest) == [11, 12, 13]
    assert latest[12][1].api_key_sha256 == DIGEST and latest[12][1].opportunity == "off"
    assert latest[13][1].registered is False and latest[13][1].opportunity == "on"

    delete_prefixed(redis_url, key_prefix)
    assert ConfigFollower(consumer, store, config_topic).restore(timeout_s=30)
    assert store.read(12).config["api_key"] == DIGEST
    assert sorted(int(m) for m in redis_client.smembers(keys.registered)) == [11, 12]


def test_a_follower_notices_redis_emptied_under_it_and_restores_again(
    config_topic: str,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    store: ConfigStore,
    redis_url: str,
    key_prefix: str,
) -> None:
    publish_tenant_config(producer, config_topic, setting(21, key=DIGEST))
    follower = ConfigFollower(consumer, store, config_topic)
    assert follower.restore(timeout_s=30)
    delete_prefixed(redis_url, key_prefix)
    publish_tenant_config(producer, config_topic, setting(22))  # arrives after the loss
    restarted = False
    for _ in range(100):
        step = follower.step(timeout_ms=200)
        restarted = restarted or step.restarted
        if step.restored and store.restored():
            break
    assert restarted
    assert store.read(21).config["api_key"] == DIGEST
    assert store.read(22).registered
    assert store.positions() == {0: 2}


def test_the_cli_write_path_publishes_whole_records_from_the_topic(
    config_topic: str,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    store: ConfigStore,
    redis_client: redis.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    write = partial(
        write_tenant_setting, redis_client, key_prefix, producer, consumer, config_topic
    )
    write(31, Change(registered=True))
    write(31, Change(api_key_sha256=DIGEST))
    delete_prefixed(redis_url, key_prefix)  # Redis lost everything: the topic still knows
    _, last = write(31, Change(opportunity="off"))
    assert (last.registered, last.opportunity, last.api_key_sha256) == (True, "off", DIGEST)
    assert store.read(31).config["api_key"] == DIGEST  # applied directly, no projector ran
    assert ConfigFollower(consumer, store, config_topic).restore(timeout_s=30)
    assert store.read(31).config["opportunity"] == "off"


def test_projector_start_prepares_the_topic_and_follows_on_a_thread(
    kafka_bootstrap: str,
    producer: KafkaProducer,
    store: ConfigStore,
    redis_client: redis.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    topic = f"t-{uuid.uuid4().hex}"
    redis_client.sadd(store.keys.registered, "41")  # a setting from before the topic
    report = prepare_config_topic([kafka_bootstrap], redis_client, key_prefix, topic)
    assert report.published == [41]
    stop = threading.Event()
    thread = start_following([kafka_bootstrap], redis_client, key_prefix, topic, stop)
    try:
        wait_for(store.restored)
        publish_tenant_config(producer, config_topic_of(topic), setting(42, key=DIGEST))
        wait_for(lambda: store.read(42).config.get("api_key") == DIGEST)
        delete_prefixed(redis_url, key_prefix)  # Redis restarted empty under a running follower
        wait_for(lambda: store.restored() and store.read(41).registered)
        assert store.read(42).config["api_key"] == DIGEST
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
