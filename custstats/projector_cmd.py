"""`custstats projector`: one projector instance; more instances share the partitions."""

from __future__ import annotations

import argparse
import logging

import redis

from custstats.rebuild import rebuild
from custstats.settings import Settings
from projector.runner import ProjectorRunner
from projector.store import StoreError
from projector.versions import FormatMismatch

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
    try:
        runner = ProjectorRunner(settings)
    except FormatMismatch as exc:
        log.warning("%s: rebuilding into a new version before projecting live", exc)
        code = rebuild(settings, redis.Redis.from_url(settings.redis()))
        if code != 0:
            return code
        runner = ProjectorRunner(settings)
    except (StoreError, redis.RedisError) as exc:
        log.error("Redis: %s", exc)
        return 2
    runner.install_signal_handlers()
    log.info("projecting %s into %s (%s)", settings.topic, runner.layout.root, settings.redis())
    stats = runner.run(idle_exit=args.idle_exit, max_events=args.max_events)
    log.info(
        "stopped: %d events in %d batches, %d dead letters",
        stats.events,
        stats.batches,
        stats.dead_letters,
    )
    return 0
