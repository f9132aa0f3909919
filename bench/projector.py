"""Time one projector process (or the ceiling consumer) from an empty store to caught up.

Progress is read from the offsets the projector writes with its state, so
"caught up" means the state of every record is in Redis, not merely polled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis

from projector.layout import Layout

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class ConsumeRun:
    events: int
    seconds: float
    """From the first applied batch to the last: the sustained rate's denominator."""
    wall: float
    """From process start (imports, group join) to caught up."""
    cpu: float = 0.0
    """CPU seconds of the consuming process."""
    redis_cpu: float = 0.0
    broker_cpu: float = 0.0
    """CPU seconds of the Tansu broker over the same interval (it shares the 2 cores)."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def wall_rate(self) -> float:
        return self.events / self.wall


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def applied(client: redis.Redis, prefix: str, topic: str, version: int = 1) -> int:
    """Records applied so far; a projector on an empty store writes version 1."""
    raw = client.hgetall(Layout(prefix, version).offsets(topic))
    return sum(int(offset) for offset in raw.values())


def run_projector(
    env: dict[str, str],
    client: redis.Redis,
    expected: int,
    log_path: Path,
    profile: Path | None = None,
    timeout: float = 3600,
    broker_pid: int | None = None,
) -> ConsumeRun:
    """Run `custstats projector` until it has applied `expected` records, then stop it."""
    command = [str(Path(sys.executable).with_name("custstats")), "projector", "--idle-exit", "60"]
    if profile is not None:
        command = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--format",
            "raw",
            "--idle",
            "--rate",
            "50",
            "-o",
            str(profile),
            "--",
            *command,
        ]
    prefix, topic = env["CUSTSTATS_KEY_PREFIX"], env["CUSTSTATS_TOPIC"]
    redis_before = redis_cpu(client)
    broker_before = _cpu_seconds(broker_pid) if broker_pid else 0.0
    with log_path.open("ab") as log:
        started = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        first: tuple[float, int] | None = None
        cpu = 0.0
        try:
            while True:
                done = applied(client, prefix, topic)
                now = time.monotonic()
                if done and first is None:
                    first = (now, done)
                if done >= expected:
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"projector exited with {proc.returncode}; see {log_path}")
                if now - started > timeout:
                    raise RuntimeError(f"projector at {done}/{expected} after {timeout} s")
                cpu = max(cpu, _projector_cpu(proc.pid, profile is not None))
                time.sleep(0.1)
        finally:
            cpu = max(cpu, _projector_cpu(proc.pid, profile is not None))
            proc.send_signal(signal.SIGINT if profile is not None else signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert first is not None
    return ConsumeRun(
        events=expected - first[1],
        seconds=now - first[0],
        wall=now - started,
        cpu=cpu,
        redis_cpu=redis_cpu(client) - redis_before,
        broker_cpu=_cpu_seconds(broker_pid) - broker_before if broker_pid else 0.0,
    )


def _projector_cpu(pid: int, wrapped: bool) -> float:
    """CPU of the projector (under py-spy, of its child)."""
    if not wrapped:
        return _cpu_seconds(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        kids = [int(kid) for kid in children.read_text().split()]
    except OSError:
        return 0.0
    return sum(_cpu_seconds(kid) for kid in kids)


def run_ceiling(bootstrap: str, topic: str, redis_url: str, expected: int) -> ConsumeRun:
    """The minimal consumer (bench.ceiling) in a child process, on its own Redis."""
    client = redis.Redis.from_url(redis_url)
    before = redis_cpu(client)
    command = [sys.executable, "-m", "bench.ceiling", bootstrap, topic, redis_url, str(expected)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, check=False, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"ceiling failed: {proc.stderr.decode()[-2000:]}")
    wall = time.monotonic() - started
    result = orjson.loads(proc.stdout)
    return ConsumeRun(
        events=result["events"],
        seconds=result["seconds"],
        wall=wall,
        cpu=0.0,
        redis_cpu=redis_cpu(client) - before,
    )


def _frame_name(frame: str) -> str:
    """'fn (/path/to/file.py:12)' -> 'fn (file.py)': lines merged, directories dropped."""
    if " (" not in frame:
        return frame
    function, _, where = frame.partition(" (")
    return f"{function} ({where.split(':')[0].rsplit('/', 1)[-1]})"


def collapse_profile(path: Path, top: int = 25) -> list[tuple[str, float, float]]:
    """(function, self share, inclusive share), most self time first, of the main thread.

    Background threads (kafka-python's I/O thread, idle in select) are left out, so with
    `--idle` the shares are of the main thread's wall time, waits on Redis included.
    """
    self_count: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        if frames[0].startswith("Thread._bootstrap"):
            continue
        total += count
        leaf = frames[-1]
        self_count[leaf] = self_count.get(leaf, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        return []
    ranked = sorted(self_count, key=lambda name: self_count[name], reverse=True)
    return [(name, self_count[name] / total, inclusive[name] / total) for name in ranked[:top]]
