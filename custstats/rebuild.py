"""`custstats rebuild`: replay the topic into a new version, then switch (projector.rebuild).

This module parses the arguments and renders: a progress line on stderr while the
replay runs, one line for the outcome.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import redis

from custstats.errors import CliError, Unavailable
from custstats.progress import ProgressLine, eta_text
from custstats.settings import Settings, masked_url
from projector.control import valid_tenant_id
from projector.errors import ProjectorError
from projector.outage import ServerUnreachable, open_redis, wait_for_redis
from projector.rebuild import Outcome, Progress, rebuild
from projector.runner import relax_gc
from projector.source import quiet_kafka_logs

log = logging.getLogger("custstats.rebuild")
STARTUP_TIMEOUT_S = 15.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-old", action="store_true", help="do not delete the previous version's keys"
    )
    parser.add_argument(
        "--tenant",
        type=int,
        metavar="N",
        help="rebuild only this tenant: its keys move to a version of their own",
    )


class RebuildProgress:
    """The rebuild's progress as one line on stderr (custstats.progress: redrawn on a terminal,
    a plain line every 5 s elsewhere)."""

    def __init__(self) -> None:
        self.line = ProgressLine(sys.stderr, tty_interval=0.5, first_at_once=True)
        self.started = time.monotonic()
        self.first_done: int | None = None

    def __call__(self, progress: Progress) -> None:
        self.line.update(lambda: self.text(progress))

    def text(self, progress: Progress) -> str:
        done, total = progress.done, progress.total
        if self.first_done is None:
            self.first_done = done
        rate = (done - self.first_done) / max(time.monotonic() - self.started, 1e-6)
        percent = 100.0 * done / total if total else 100.0
        return (
            f"rebuild v{progress.version}: {done:,} / {total:,} events ({percent:.1f}%)"
            f"  {rate:,.0f} ev/s  ETA {eta_text(total - done, rate)}"
        )

    def finish(self) -> None:
        self.line.clear()


def run(args: argparse.Namespace, settings: Settings) -> int:
    quiet_kafka_logs()
    try:
        if args.tenant is not None and not valid_tenant_id(args.tenant):
            raise CliError("--tenant must be a tenant id (1 .. 2^63-1)")
        client = open_redis(settings.redis())
        try:
            wait_for_redis(client, STARTUP_TIMEOUT_S)
        except ServerUnreachable as exc:
            raise Unavailable(str(exc)) from exc
        relax_gc()  # this process is a projector: see relax_gc
        return render(settings, client, keep_old=args.keep_old, tenant=args.tenant)
    except CliError as exc:
        print(f"custstats rebuild: {exc}", file=sys.stderr)
        return 2


def render(
    settings: Settings, client: redis.Redis, *, keep_old: bool = False, tenant: int | None = None
) -> int:
    """Run the rebuild, showing its progress; the exit code says how it ended. CliError (one
    line) when a server cannot be reached or stops answering for good."""
    config = settings.projector_config()
    progress = RebuildProgress()
    log.info(
        "rebuilding %s at %s from topic %s",
        f"tenant {tenant}" if tenant is not None else "the projection",
        masked_url(settings.redis()),
        config.topic,
    )
    try:
        result = rebuild(config, client, keep_old=keep_old, tenant=tenant, on_progress=progress)
    except ServerUnreachable as exc:
        raise Unavailable(str(exc)) from exc
    except (ProjectorError, redis.RedisError) as exc:
        raise CliError(f"rebuild failed: {exc} (run the command again to resume)") from exc
    finally:
        progress.finish()
    if result.outcome is Outcome.LOCKED:
        print(f"custstats rebuild: another rebuild is running: {result.holder}", file=sys.stderr)
    elif result.outcome is Outcome.INTERRUPTED:
        log.info("rebuild v%d interrupted: run the command again to resume", result.version)
    else:
        log.info("v%d is current now (%d events replayed)", result.version, result.events)
    return int(result.outcome)
