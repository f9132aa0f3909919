"""`custstats projector`: one projector instance; more instances share the partitions."""

from __future__ import annotations

import argparse
import logging

import redis

from custstats.settings import Settings
from projector.errors import FormatMismatch, ProjectorError
from projector.rebuild import Outcome, rebuild
from projector.runner import ProjectorRunner, relax_gc

log = logging.getLogger("custstats.projector")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="stop after this many seconds without new records (for scripts and tests)",
    )
    parser.add_argument("--max-events", type=int, metavar="N", help="stop after N events")


def run(args: argparse.Namespace, settings: Settings) -> int:
    config = settings.projector_config()
    relax_gc()  # this process is a projector: see relax_gc
    try:
        runner = ProjectorRunner(config)
    except FormatMismatch as exc:
        log.warning("%s: rebuilding into a new version before projecting live", exc)
        result = rebuild(config, redis.Redis.from_url(config.redis_url))
        if result.outcome is not Outcome.SWITCHED:
            if result.outcome is Outcome.LOCKED:
                log.error("another rebuild is running: %s", result.holder)
            return int(result.outcome)
        runner = ProjectorRunner(config)
    except (ProjectorError, redis.RedisError) as exc:
        log.error("Redis: %s", exc)
        return 2
    runner.install_signal_handlers()
    log.info("projecting %s into %s (%s)", config.topic, runner.layout.root, config.redis_url)
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
