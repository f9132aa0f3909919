"""Rebuild: replay the topic into a new version while the API answers from the current one,
switch atomically once the new one has caught up, then delete the old one.

Safe to interrupt: the version being built keeps its own offsets (written atomically
with its state), so running it again resumes where it stopped. A lock with a short
lease (redis-py's `Lock`, renewed while we run) refuses a second concurrent rebuild;
the lease of a killed process runs out by itself.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from kafka.errors import KafkaError
from redis.exceptions import LockError

from projector import bulk
from projector.cells import BatchWrites
from projector.config import ProjectorConfig
from projector.control import (
    CURRENT,
    READY_PARTITIONS,
    REBUILD_DONE,
    REBUILD_FIELDS,
    REBUILD_HEARTBEAT,
    REBUILD_STARTED,
    REBUILD_TOTAL,
)
from projector.layout import ControlLayout, Layout
from projector.metrics import ProjectorMetrics
from projector.role import Role
from projector.runner import ProjectorRunner
from projector.runstate import RunStats
from projector.versions import (
    PROJECTION_FORMAT,
    abandoned_versions,
    allocate_version,
    delete_tenant_keys,
    delete_version,
    delete_version_globals,
    field_version,
    switch_current,
    switch_tenant,
    written_format,
)

log = logging.getLogger(__name__)
LEASE_S = 6.0


class Outcome(enum.IntEnum):
    SWITCHED = 0
    LOCKED = 1
    INTERRUPTED = 130


@dataclass(slots=True)
class Result:
    outcome: Outcome
    version: int | None = None
    events: int = 0
    holder: str = ""
    """Who holds the lock, when `LOCKED`."""


class RebuildLock:
    """One rebuild at a time: redis-py's `Lock` (its release and renewal are atomic, unlike
    a GET then PEXPIRE/DEL), renewed in a thread while we run; it expires if we die."""

    def __init__(self, client: redis.Redis, key: str, control_key: str | None = None) -> None:
        """`control_key`: where the renewals also write the rebuild's heartbeat (see
        `control.rebuild_stale`: a rebuild whose process died shows as stale)."""
        self.client = client
        self.key = key
        self.control_key = control_key
        self.beating = threading.Event()
        self.token = f"{socket.gethostname()} pid {os.getpid()} since {time.strftime('%H:%M:%S')}"
        self.lock = client.lock(key, timeout=LEASE_S, thread_local=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def acquire(self) -> str | None:
        """None when acquired, else who holds it."""
        if self.lock.acquire(blocking=False, token=self.token):
            self.beating.set()
            self._thread.start()
            return None
        holder = self.client.get(self.key)
        left = self.client.pttl(self.key)
        who = holder.decode() if isinstance(holder, bytes) else str(holder)
        return f"{who} (lease ends in {max(left, 0) / 1000:.0f} s)"

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_S / 3):
            try:
                self.lock.reacquire()
                if self.control_key is not None and self.beating.is_set():
                    self.client.hset(self.control_key, REBUILD_HEARTBEAT, int(time.time()))
            except (LockError, redis.RedisError) as exc:
                log.warning("could not renew the rebuild lease: %s", exc)

    def release(self) -> None:
        self.beating.clear()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        with contextlib.suppress(LockError, redis.RedisError):
            self.lock.release()


def _target(client: redis.Redis, prefix: str, field_: str) -> tuple[Layout, bool]:
    """The version to build: the interrupted one if it is still readable, else a new one."""
    pending = field_version(client, prefix, field_)
    if pending is not None:
        layout = Layout(prefix, pending)
        if written_format(client, layout) == PROJECTION_FORMAT:
            return layout, True
        delete_version(client, layout)
    layout = allocate_version(client, prefix)
    client.hset(
        ControlLayout(prefix).key,
        mapping={
            field_: layout.version,
            REBUILD_STARTED: int(time.time()),
            REBUILD_HEARTBEAT: int(time.time()),
        },
    )
    return layout, False


@dataclass(frozen=True, slots=True)
class Progress:
    version: int
    done: int
    total: int


class ProgressReport:
    """`on_batch` of a rebuild's runner: the figures in the control hash (for `status`) and
    to the caller's renderer, at most every `every` s."""

    def __init__(
        self, client: redis.Redis, runner: ProjectorRunner, show: Callable[[Progress], None]
    ) -> None:
        self.client = client
        self.runner = runner
        self.show = show
        self.every = 0.5
        self.last = 0.0

    def __call__(self, stats: RunStats | None = None) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        try:
            done, total = self.runner.progress()
        except KafkaError as exc:  # the figures only: the replay goes on, the outage is seen
            self.runner.outages.failed("kafka", exc)
            return
        control = self.runner.role.control.key
        self.client.hset(control, mapping={REBUILD_DONE: done, REBUILD_TOTAL: total})
        if self.runner.metrics is not None:
            self.runner.metrics.set_rebuild_progress(done, total)
        self.show(Progress(self.runner.layout.version, done, total))


@dataclass
class Switcher:
    """`on_caught_up` of a rebuild's runner: try the atomic switch, remember what it replaced."""

    client: redis.Redis
    runner: ProjectorRunner
    target: Layout
    topic: str
    tenant: int | None
    switched_from: list[int] = field(default_factory=list)

    def __call__(self) -> bool:
        prefix = self.target.prefix
        current = field_version(self.client, prefix, CURRENT)
        if self.tenant is not None:
            live = Layout(prefix, current or 0)
            done, detail = switch_tenant(self.client, self.target, live, self.tenant, self.topic)
            replaced = int(detail) if done else None
        else:
            if not self._mark_complete():
                return False
            if current is None:  # nothing live: the rebuild simply becomes current
                control = self.runner.role.control.key
                self.client.hset(control, CURRENT, self.target.version)
                self.client.hdel(control, self.runner.role.fence_field)
                return True
            old = Layout(prefix, current)
            done, detail = switch_current(self.client, self.target, old, self.topic)
            replaced = current if done else None
        if replaced is None:
            log.debug("not switching yet: %s", detail)
            return False
        self.switched_from.append(replaced)
        return True

    def _mark_complete(self) -> bool:
        """The new version's ready marks, fenced on the rebuild field, before it becomes current:
        the API never sees the new current version as incomplete. False when fenced."""
        if self.runner.metrics is not None:
            self.runner.metrics.set_rebuild_phase("switching")
        partitions = self.runner.partitions()
        marks = BatchWrites()
        for key, field_, value in self.runner.fences:
            marks.expect(key, field_, value)
        marks.hash_sets[(self.target.ready_key, READY_PARTITIONS)] = str(len(partitions)).encode()
        for partition in partitions:
            marks.hash_sets[(self.target.ready_key, str(partition))] = b"1"
        return self.runner.store.commit(marks) is None


def _clean_up(client: redis.Redis, switcher: Switcher, keep_old: bool) -> None:
    """After the switch: the progress fields, then what the new version replaced."""
    target, tenant = switcher.target, switcher.tenant
    client.hdel(ControlLayout(target.prefix).key, *REBUILD_FIELDS)
    if tenant is not None:
        delete_version_globals(client, target)
        for old in switcher.switched_from:
            if not keep_old:
                removed = delete_tenant_keys(client, target.prefix, old, tenant)
                log.info("deleted tenant %d's keys of v%d: %d keys", tenant, old, removed)
    elif not keep_old:
        for old in abandoned_versions(client, target.prefix):
            removed = delete_version(client, Layout(target.prefix, old))
            log.info("deleted v%d: %d keys", old, removed)
    else:
        log.info("keeping v%s as asked", ", v".join(map(str, switcher.switched_from)))


def rebuild(
    config: ProjectorConfig,
    client: redis.Redis,
    *,
    keep_old: bool = False,
    tenant: int | None = None,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    metrics: ProjectorMetrics | None = None,
) -> Result:
    """Replay into a new (or the interrupted) version and make it current. With `tenant`, only
    that tenant is replayed, and it alone moves to the new version."""
    prefix = config.key_prefix
    lock = RebuildLock(client, ControlLayout(prefix).rebuild_lock, ControlLayout(prefix).key)
    holder = lock.acquire()
    if holder is not None:
        return Result(Outcome.LOCKED, holder=holder)
    try:
        for version in abandoned_versions(client, prefix):
            log.info("deleting abandoned version v%d", version)
            delete_version(client, Layout(prefix, version))
        role = Role.rebuilding(Layout(prefix, 0), tenant)
        target, resumed = _target(client, prefix, role.fence_field)
        log.info(
            "%s rebuild%s into v%d; the API keeps answering from v%s",
            "resuming the" if resumed else "starting a",
            "" if tenant is None else f" of tenant {tenant}",
            target.version,
            field_version(client, prefix, CURRENT),
        )
        if config.bulk_rebuild and tenant is None and not resumed:
            _phase(metrics, "bulk")
            if bulk.run_phase(config, client, target) is None:
                _phase(metrics, "idle")
                return Result(Outcome.INTERRUPTED, target.version)
        runner = ProjectorRunner(config, client, Role.rebuilding(target, tenant), metrics=metrics)
        runner.install_signal_handlers()
        switcher = Switcher(client, runner, target, config.topic, tenant)
        report = ProgressReport(client, runner, on_progress)
        _phase(metrics, "catching_up")
        stats = runner.run(on_batch=report, on_caught_up=switcher)
        if not stats.done:
            _phase(metrics, "idle")
            return Result(Outcome.INTERRUPTED, target.version, stats.events)
        lock.beating.clear()  # the progress fields go now: no heartbeat may follow them
        _clean_up(client, switcher, keep_old)
        _phase(metrics, "idle")
        return Result(Outcome.SWITCHED, target.version, stats.events)
    except BaseException:
        _phase(metrics, "failed")
        raise
    finally:
        lock.release()


def _phase(metrics: ProjectorMetrics | None, phase: str) -> None:
    if metrics is not None:
        metrics.set_rebuild_phase(phase)
