"""`custstats rebuild` with the bulk phase against the incremental replay, in one session.

One Tansu broker and one private Redis; the scale's log is published once, then
rebuilds run back to back: bulk (warm-up: nothing is live yet), incremental
(`CUSTSTATS_BULK_REBUILD=false`), bulk again. Each rebuild's wall time includes its
switch and the deletion of the version it replaced. The bulk phase's own split comes
from its log line.

Usage: python -m bench.rebuild S0 [--incremental-timeout 900]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
from pathlib import Path

import redis

from bench import generate
from bench.feed import feed
from bench.suite import CUSTSTATS, DATA, PARTITIONS, TOPIC, environment, log
from custstats.servers import EmbeddedBroker, EmbeddedRedis
from custstats.settings import Settings


def rebuild(env: dict[str, str], bulk: bool, out: Path, timeout: float) -> dict[str, object]:
    env = env | {"CUSTSTATS_BULK_REBUILD": "true" if bulk else "false"}
    started = time.monotonic()
    with out.open("wb") as stream:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "maxrss_kb=%M cpu_user=%U cpu_sys=%S", CUSTSTATS, "rebuild"],
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    seconds = time.monotonic() - started
    text = out.read_text(errors="replace")
    split = re.search(r"bulk: .*", text)
    rusage = re.search(r"maxrss_kb=(\d+) cpu_user=([\d.]+) cpu_sys=([\d.]+)", text)
    return {
        "bulk": bulk,
        "exit": done.returncode,
        "seconds": round(seconds, 1),
        "bulk_line": split.group(0) if split else None,
        "maxrss_mb": int(rusage.group(1)) // 1024 if rusage else None,
        "cpu_s": round(float(rusage.group(2)) + float(rusage.group(3)), 1) if rusage else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(generate.SCALES))
    parser.add_argument("--incremental-timeout", type=float, default=900)
    args = parser.parse_args(argv)
    scale = generate.SCALES[args.scale]
    DATA.mkdir(exist_ok=True)
    workdir = DATA / f"{scale.name}-rebuild"
    workdir.mkdir(exist_ok=True)
    data = DATA / f"{scale.name}.jsonl"
    lines = generate.write(scale, data)
    log(f"{scale.name}: {lines:,} lines")
    with (
        EmbeddedBroker(log_path=workdir / "tansu.log") as broker,
        EmbeddedRedis(binary=shutil.which("redis-server")) as store,
    ):
        broker.create_topic(TOPIC, PARTITIONS)
        broker.create_topic(f"{TOPIC}.dlq", 1)
        fed = feed(data, Settings(kafka_bootstrap=broker.bootstrap, topic=TOPIC))
        log(f"published {fed.records:,} records")
        env = environment(broker.bootstrap, store.url, "bench-rebuild")
        client = redis.Redis.from_url(store.url)
        for number, bulk in enumerate((True, False, True)):
            result = rebuild(env, bulk, workdir / f"rebuild{number}.log", args.incremental_timeout)
            result["events_per_s"] = round(fed.records / float(str(result["seconds"])))
            result["used_memory_mb"] = client.info("memory")["used_memory"] // 2**20
            log(str(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
