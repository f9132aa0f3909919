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

from custstats.settings import Settings
from projector.rebuild import Outcome, Progress, rebuild
from projector.runner import relax_gc

log = logging.getLogger("custstats.rebuild")


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


class ProgressLine:
    """A one-line progress bar on stderr (a line every 5 s when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_done: int | None = None
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < (0.5 if self.tty else 5.0):
            return
        self.last = now
        done, total = progress.done, progress.total
        if self.first_done is None:
            self.first_done = done
        rate = (done - self.first_done) / max(now - self.started, 1e-6)
        eta = (total - done) / rate if rate > 0 else float("inf")
        percent = 100.0 * done / total if total else 100.0
        eta_text = "--" if eta == float("inf") else f"{int(eta) // 60}m{int(eta) % 60:02d}s"
        line = (
            f"rebuild v{progress.version}: {done:,} / {total:,} events ({percent:.1f}%)"
            f"  {rate:,.0f} ev/s  ETA {eta_text}"
        )
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)


def run(args: argparse.Namespace, settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis())
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"custstats rebuild: Redis unreachable: {exc}", file=sys.stderr)
        return 2
    if args.tenant is not None and args.tenant <= 0:
        print("custstats rebuild: --tenant must be an integer > 0", file=sys.stderr)
        return 2
    relax_gc()  # this process is a projector: see relax_gc
    return render(settings, client, keep_old=args.keep_old, tenant=args.tenant)


def render(
    settings: Settings, client: redis.Redis, *, keep_old: bool = False, tenant: int | None = None
) -> int:
    """Run the rebuild, showing its progress; the exit code says how it ended."""
    result = rebuild(
        settings.projector_config(),
        client,
        keep_old=keep_old,
        tenant=tenant,
        on_progress=ProgressLine(),
    )
    if result.outcome is Outcome.LOCKED:
        print(f"custstats rebuild: another rebuild is running: {result.holder}", file=sys.stderr)
    elif result.outcome is Outcome.INTERRUPTED:
        print(file=sys.stderr)
        log.info("rebuild v%d interrupted: run the command again to resume", result.version)
    else:
        print(file=sys.stderr)
        log.info("v%d is current now (%d events replayed)", result.version, result.events)
    return int(result.outcome)
