"""What `custstats dev` prepares before it starts any child: the API port, servers, topics.

The API port is checked first, before anything starts: a second `custstats dev` on a
busy port stops with one line instead of announcing the other process's API.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import SecretStr

from custstats.errors import CliError
from custstats.servers import EmbeddedBroker, EmbeddedRedis, ServerError
from custstats.settings import Settings, masked_url
from projector.config_topic import ConfigTopicError, config_topic_of, ensure_config_topic

log = logging.getLogger("custstats.dev")


class DevError(CliError):
    """The session cannot go on; the message tells the user what happened."""


@dataclass(frozen=True)
class Servers:
    bootstrap: str
    redis_url: str
    embedded: tuple[EmbeddedBroker | EmbeddedRedis, ...]


def check_port_free(host: str, port: int) -> None:
    """DevError unless the API could listen on host:port now (as uvicorn binds: SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise DevError(f"cannot listen on {host}:{port}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DevError(
                    f"port {port} on {host} is already in use (another custstats dev?): "
                    "stop it or choose another port with --port"
                ) from exc
            raise DevError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def start_servers(settings: Settings, stack: contextlib.ExitStack) -> Servers:
    embedded: list[EmbeddedBroker | EmbeddedRedis] = []
    try:
        if settings.kafka_bootstrap:
            bootstrap = settings.kafka_bootstrap
            log.info("Kafka: %s (CUSTSTATS_KAFKA_BOOTSTRAP)", bootstrap)
        else:
            broker = stack.enter_context(EmbeddedBroker())
            embedded.append(broker)
            bootstrap = broker.bootstrap
            log.info("Kafka: embedded Tansu broker on %s (%s)", bootstrap, broker.log_path)
        if settings.redis_url:
            redis_url = settings.redis()
            log.info("Redis: %s (CUSTSTATS_REDIS_URL)", masked_url(redis_url))
        else:
            store = stack.enter_context(EmbeddedRedis())
            embedded.append(store)
            redis_url = store.url
            log.info("Redis: embedded Valkey on %s (%s)", redis_url, store.log_path)
    except ServerError as exc:
        raise DevError(f"cannot start an embedded server: {exc}") from exc
    return Servers(bootstrap, redis_url, tuple(embedded))


def create_topics(settings: Settings) -> None:
    """The events topic, its dead-letter topic and `<topic>.config` (compacted, one partition);
    existing ones are left as they are."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_servers(),
            client_id="custstats-dev",
            request_timeout_ms=15_000,
        )
    except KafkaError as exc:
        raise DevError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        for name, partitions in ((settings.topic, settings.partitions), (settings.dlq_topic, 1)):
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
                log.info("created topic %s with %d partition(s)", name, partitions)
            except TopicAlreadyExistsError:
                log.info("topic %s exists", name)
            except KafkaError as exc:
                raise DevError(f"cannot create topic {name!r}: {exc}") from exc
        config_topic = config_topic_of(settings.topic)
        try:
            created = ensure_config_topic(admin, config_topic)
        except ConfigTopicError as exc:
            raise DevError(str(exc)) from exc
        log.info("%s topic %s (operator settings)", "created" if created else "found", config_topic)
    finally:
        admin.close()


def child_env(settings: Settings) -> dict[str, str]:
    """Our environment, with every setting spelled out so the children use exactly ours."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CUSTSTATS_")}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[f"CUSTSTATS_{name.upper()}"] = str(value)
    return env
