"""`custstats projector`: one projector instance; more instances share the partitions."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import threading

from prometheus_client import CollectorRegistry

from custstats.settings import Settings, masked_url
from projector.config import ProjectorConfig
from projector.config_follower import start_following
from projector.config_topic import ConfigTopicError
from projector.config_upgrade import prepare_config_topic
from projector.errors import FormatMismatch, ProjectorError
from projector.metrics import ProjectorMetrics, serve
from projector.outage import ServerUnreachable, open_redis, wait_for_redis
from projector.rebuild import Outcome, rebuild
from projector.runner import ProjectorRunner, relax_gc
from projector.source import quiet_kafka_logs

log = logging.getLogger("custstats.projector")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="stop after this many seconds without new records (for scripts and tests)",
    )
    parser.add_argument("--max-events", type=int, metavar="N", help="stop after N events")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help="serve Prometheus metrics on http://0.0.0.0:P/metrics (default: not served)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for Redis and the broker at start-up before giving up "
        "(default: %(default)s)",
    )


def fail(message: str) -> int:
    print(f"custstats projector: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    quiet_kafka_logs()
    config = dataclasses.replace(
        settings.projector_config(), startup_timeout_s=args.startup_timeout
    )
    metrics = ProjectorMetrics(CollectorRegistry())
    if args.metrics_port is not None:
        try:
            serve(args.metrics_port, metrics.registry)
        except OSError as exc:
            return fail(f"cannot serve metrics on port {args.metrics_port}: {exc.strerror or exc}")
    relax_gc()  # this process is a projector: see relax_gc
    try:
        runner = start(config, metrics)
    except (ServerUnreachable, ProjectorError) as exc:
        return fail(str(exc))
    if isinstance(runner, Outcome):
        return int(runner)
    runner.install_signal_handlers()
    follow_settings(config, runner)
    log.info(
        "projecting %s into %s at %s (group %s, dead letters to %s)",
        config.topic,
        runner.layout.root,
        masked_url(config.redis_url),
        config.consumer_group,
        config.dlq_topic,
    )
    try:
        stats = runner.run(idle_exit=args.idle_exit, max_events=args.max_events)
    except ProjectorError as exc:  # a corrupt state, a batch that never lands: not retried
        log.error("projector stopped: %s", exc)
        return 2
    log.info(
        "stopped: %d events in %d batches, %d dead letters",
        stats.events,
        stats.batches,
        stats.dead_letters,
    )
    return 0


def start(config: ProjectorConfig, metrics: ProjectorMetrics) -> ProjectorRunner | Outcome:
    """The runner, once Redis and the broker answered (a bounded wait: ServerUnreachable);
    the rebuild's outcome when a needed rebuild did not switch."""
    client = open_redis(config.redis_url)
    wait_for_redis(client, config.startup_timeout_s)
    try:
        runner = ProjectorRunner(config, client, metrics=metrics)
    except FormatMismatch as exc:
        log.info("%s: rebuilding into a new version before projecting live", exc)
        result = rebuild(config, client, metrics=metrics)
        if result.outcome is not Outcome.SWITCHED:
            if result.outcome is Outcome.LOCKED:
                log.error("another rebuild is running: %s", result.holder)
            return result.outcome
        runner = ProjectorRunner(config, client, metrics=metrics)
    _ = runner.source  # connect now: an unreachable broker is one line, not a stack trace
    return runner


def follow_settings(config: ProjectorConfig, runner: ProjectorRunner) -> threading.Thread | None:
    """Operator settings from `<topic>.config` (SPEC §4): create the topic and publish
    Redis-only settings once, then follow it on a thread of its own until the runner stops."""
    try:
        report = prepare_config_topic(
            config.kafka_servers, runner.client, config.key_prefix, config.topic
        )
        if report.published:
            log.info(
                "published the settings of %d tenants found only in Redis to %s",
                len(report.published),
                config.config_topic,
            )
        for tenant, why in report.refused:
            log.warning("tenant %d's settings not published to the config topic: %s", tenant, why)
    except ConfigTopicError as exc:
        log.warning("operator settings topic %s not prepared: %s", config.config_topic, exc)
    return start_following(
        config.kafka_servers,
        runner.client,
        config.key_prefix,
        config.topic,
        runner.stop_requested,
    )
