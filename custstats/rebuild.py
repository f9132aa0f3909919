"""`custstats rebuild`: replay the topic into a new version while the API answers from the
current one, switch atomically once the new one has caught up, then delete the old one.

Safe to interrupt: the version being built keeps its own offsets (written atomically
with its state), so running the command again resumes where it stopped. A lock with a
short lease refuses a second concurrent rebuild; the lease of a killed process runs
out by itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time

import redis

from custstats.settings import Settings
from projector.layout import ControlLayout, Layout
from projector.runner import ProjectorRunner, RunStats
from projector.versions import (
    CURRENT,
    PROJECTION_FORMAT,
    REBUILD,
    abandoned_versions,
    allocate_version,
    delete_tenant_keys,
    delete_version,
    delete_version_globals,
    field_version,
    ready_key,
    switch_current,
    switch_tenant,
    tenant_rebuild_field,
    written_format,
)

log = logging.getLogger("custstats.rebuild")
LEASE_MS = 6_000


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


class RebuildLock:
    """A lease in Redis: one rebuild at a time; renewed while we run, expires if we die."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client = client
        self.key = key
        self.token = f"{socket.gethostname()} pid {os.getpid()} since {time.strftime('%H:%M:%S')}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def acquire(self) -> str | None:
        """None when acquired, else who holds it."""
        if self.client.set(self.key, self.token, nx=True, px=LEASE_MS):
            self._thread.start()
            return None
        holder = self.client.get(self.key)
        left = self.client.pttl(self.key)
        who = holder.decode() if isinstance(holder, bytes) else str(holder)
        return f"{who} (lease ends in {max(left, 0) / 1000:.0f} s)"

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_MS / 3000):
            try:
                if self.client.get(self.key) == self.token.encode():
                    self.client.pexpire(self.key, LEASE_MS)
            except redis.RedisError as exc:
                log.warning("could not renew the rebuild lease: %s", exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        try:
            if self.client.get(self.key) == self.token.encode():
                self.client.delete(self.key)
        except redis.RedisError:
            pass


def _target(client: redis.Redis, prefix: str, field: str) -> tuple[Layout, bool]:
    """The version to build: the interrupted one if it is still readable, else a new one."""
    control = ControlLayout(prefix)
    pending = field_version(client, prefix, field)
    if pending is not None:
        layout = Layout(prefix, pending)
        if written_format(client, layout) == PROJECTION_FORMAT:
            return layout, True
        delete_version(client, layout)
    layout = allocate_version(client, prefix)
    client.hset(
        control.key,
        mapping={field: layout.version, "rebuild_started": int(time.time())},
    )
    return layout, False


class Progress:
    """A one-line progress bar on stderr, and the same figures in the control hash."""

    def __init__(self, client: redis.Redis, prefix: str, runner: ProjectorRunner) -> None:
        self.client = client
        self.control = ControlLayout(prefix)
        self.runner = runner
        self.started = time.monotonic()
        self.first_done: int | None = None
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, stats: RunStats | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 5.0):
            return
        self.last = now
        done, total = self.runner.progress()
        if self.first_done is None:
            self.first_done = done
        rate = (done - self.first_done) / max(now - self.started, 1e-6)
        eta = (total - done) / rate if rate > 0 else float("inf")
        self.client.hset(self.control.key, mapping={"rebuild_done": done, "rebuild_total": total})
        percent = 100.0 * done / total if total else 100.0
        eta_text = "--" if eta == float("inf") else f"{int(eta) // 60}m{int(eta) % 60:02d}s"
        line = (
            f"rebuild v{self.runner.layout.version}: {done:,} / {total:,} events ({percent:.1f}%)"
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
    return rebuild(settings, client, keep_old=args.keep_old, tenant=args.tenant)


def rebuild(
    settings: Settings, client: redis.Redis, *, keep_old: bool = False, tenant: int | None = None
) -> int:
    """Replay into a new (or the interrupted) version and make it current; 0 when switched.
    With `tenant`, only that tenant is replayed, and it alone moves to the new version."""
    prefix = settings.key_prefix
    control = ControlLayout(prefix)
    lock = RebuildLock(client, control.rebuild_lock)
    holder = lock.acquire()
    if holder is not None:
        print(f"custstats rebuild: another rebuild is running: {holder}", file=sys.stderr)
        return 1
    try:
        for version in abandoned_versions(client, prefix):
            log.info("deleting abandoned version v%d", version)
            delete_version(client, Layout(prefix, version))
        field = REBUILD if tenant is None else tenant_rebuild_field(tenant)
        target, resumed = _target(client, prefix, field)
        log.info(
            "%s rebuild%s into v%d; the API keeps answering from v%s",
            "resuming the" if resumed else "starting a",
            "" if tenant is None else f" of tenant {tenant}",
            target.version,
            field_version(client, prefix, CURRENT),
        )
        runner = ProjectorRunner(settings, client, rebuild=target, tenant=tenant)
        runner.install_signal_handlers()
        progress = Progress(client, prefix, runner)
        switched_from: list[int] = []

        def try_switch() -> bool:
            if tenant is not None:
                return switch_one_tenant()
            partitions = runner.partitions()
            client.hset(
                ready_key(target),
                mapping={"partitions": len(partitions), **dict.fromkeys(map(str, partitions), 1)},
            )
            current = field_version(client, prefix, CURRENT)
            if current is None:  # nothing live: the rebuild simply becomes current
                client.hset(control.key, CURRENT, target.version)
                client.hdel(control.key, REBUILD)
                return True
            done, detail = switch_current(client, target, Layout(prefix, current), settings.topic)
            if done:
                switched_from.append(current)
            else:
                log.debug("not switching yet: %s", detail)
            return done

        def switch_one_tenant() -> bool:
            assert tenant is not None
            live = Layout(prefix, field_version(client, prefix, CURRENT) or 0)
            done, detail = switch_tenant(client, target, live, tenant, settings.topic)
            if done:
                switched_from.append(int(detail))
            else:
                log.debug("not switching yet: %s", detail)
            return done

        stats = runner.run(on_batch=progress, on_caught_up=try_switch)
        if not stats.done:
            print(file=sys.stderr)
            log.info("rebuild v%d interrupted: run the command again to resume", target.version)
            return 130
        print(file=sys.stderr)
        log.info("v%d is current now (%d events replayed)", target.version, stats.events)
        client.hdel(control.key, "rebuild_done", "rebuild_total", "rebuild_started")
        if tenant is not None:
            delete_version_globals(client, target)
            for old in switched_from:
                if not keep_old:
                    removed = delete_tenant_keys(client, prefix, old, tenant)
                    log.info("deleted tenant %d's keys of v%d: %d keys", tenant, old, removed)
        elif not keep_old:
            for old in abandoned_versions(client, prefix):
                removed = delete_version(client, Layout(prefix, old))
                log.info("deleted v%d: %d keys", old, removed)
        else:
            log.info("keeping v%s as asked", ", v".join(map(str, switched_from)))
        return 0
    finally:
        lock.release()
