"""Turn bench/results/*.json into BENCHMARKS.md: every figure with its spread, every bar judged.

Usage: python -m bench.report [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.queries import CLASSES
from bench.report_peers import duckdb_bars, duckdb_section, legacy_section
from bench.suite import RESULTS

ORDER = ("S0", "S1q", "S1")
LABEL = {"S0": "S0", "S1q": "S1/4", "S1": "S1"}
GB = 1 << 30


def _load() -> dict[str, dict[str, Any]]:
    found = {}
    for name in ORDER:
        path = RESULTS / f"{name}.json"
        if path.exists():
            found[name] = orjson.loads(path.read_bytes())
    return found


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    if len(values) == 1:
        return f"{fmt(values[0])} (1 run)"
    return f"{fmt(_median(values))} ({fmt(min(values))}–{fmt(max(values))}, {len(values)} runs)"


def _s(entry: dict[str, float], fmt: Callable[[float], str]) -> str:
    if entry["runs"] == 1:
        return fmt(entry["median"])
    return f"{fmt(entry['median'])} ({fmt(entry['min'])}–{fmt(entry['max'])})"


def _int(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _verdict(ok: bool, missed_by: str) -> str:
    return "**met**" if ok else f"**missed** ({missed_by})"


def _bars(name: str, result: dict[str, Any]) -> list[str]:
    lines = [
        f"Judged at {LABEL[name]}; figures are medians.",
        "",
        "| bar | figure | verdict |",
        "|---|---|---|",
    ]
    rate = _median([run["rate"] for run in result["projector"]])
    ceiling = _median([run["rate"] for run in result["ceiling"]])
    lines.append(
        f"| projector ≥ 20,000 events/s | {_int(rate)} events/s | "
        f"{_verdict(rate >= 20_000, f'{20_000 / rate:.1f}× too slow')} |"
    )
    share = rate / ceiling
    lines.append(
        f"| projector ≥ 0.5 × ceiling | {share:.2f} × ({_int(ceiling)} events/s) | "
        f"{_verdict(share >= 0.5, f'{0.5 / share:.1f}× short')} |"
    )
    for klass, entry in result.get("queries", {}).get("classes", {}).items():
        bar = 10.0 if klass == "a" else 30.0
        p99 = entry["p99_ms"]["median"]
        lines.append(
            f"| ({klass}) p99 ≤ {bar:.0f} ms | {_ms(p99)} ms | "
            f"{_verdict(p99 <= bar, f'{p99 / bar:.1f}× the bar')} |"
        )
    for klass, entry in result.get("legacy", {}).get("classes", {}).items():
        theirs = entry["latency"]["p50_ms"]
        ours = result["queries"]["classes"][klass]["p50_ms"]["median"]
        ratio = theirs / ours
        lines.append(
            f"| ({klass}) ≥ 20× faster than MariaDB at p50 | {ratio:.1f}× | "
            f"{_verdict(ratio >= 20, f'{20 / ratio:.1f}× short')} |"
        )
    lines += duckdb_bars(result)
    rebuild = result.get("rebuild")
    if rebuild:
        seconds = rebuild["seconds"]["median"]
        kind = ""
        if rebuild.get("timed_out"):
            kind = " (extrapolated, see §4)"
        elif rebuild["kind"] != "custstats rebuild":
            kind = " (stand-in, see §4)"
        lines.append(
            f"| rebuild ≤ 5 min | {seconds / 60:.1f} min{kind} | "
            f"{_verdict(seconds <= 300, f'{seconds / 300:.1f}× the bar')} |"
        )
    memory = result["memory"]["used_memory"]
    lines.append(
        f"| Redis used_memory ≤ 2 GB (read strictly: 2·10⁹ bytes) | "
        f"{memory / 1e9:.2f} GB ({memory / GB:.2f} GiB) | "
        f"{_verdict(memory <= 2e9, f'{memory / 2e9:.2f}× the bar')} |"
    )
    return lines


FINDINGS = Path(__file__).with_name("findings.md")
"""Why the missed bars are missed: written by hand from the profiles, kept beside the code."""


def _findings() -> list[str]:
    if not FINDINGS.exists():
        return []
    return [FINDINGS.read_text(encoding="utf-8").rstrip(), ""]


def _profile_table(rows: list[list[Any]], top: int = 18) -> list[str]:
    lines = ["| function | self | inclusive |", "|---|---|---|"]
    for name, own, inclusive in rows[:top]:
        lines.append(f"| `{name}` | {own * 100:.1f}% | {inclusive * 100:.1f}% |")
    return lines


def render(results: dict[str, dict[str, Any]]) -> str:
    if not results:
        raise SystemExit("no results in bench/results: run bash bench/run.sh first")
    biggest = [name for name in ORDER if name in results][-1]
    head = results[biggest]
    machine = head["machine"]
    out = [
        "# Benchmarks",
        "",
        "Written by `bench/report.py` from `bench/results/*.json`; reproduce with "
        "`bash bench/run.sh [S0|S1|all]`. Method and what the profiles taught: "
        "[docs/performance.md](docs/performance.md).",
        "",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_bytes'] / GB:.0f} GiB memory, Linux {machine['kernel']}; "
        "servers, clients and load generators share the cores.",
        "- Runs: "
        + ", ".join(
            f"{LABEL[name]} {result['date']} at `{result.get('revision', '?')}`"
            for name, result in results.items()
        ),
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
        + ", "
        + ", ".join(f"{k} {v}" for k, v in head.get("servers", {}).items()),
        "- Suite wall time (generation to rebuild): "
        + ", ".join(
            f"{LABEL[name]} {result.get('total_s', 0) / 60:.1f} min"
            for name, result in results.items()
        )
        + " (S0 is meant to take under 5 minutes; most of it is the two projector "
        "runs, the 6,000 timed requests and the 1,200 interleaved with DuckDB and MariaDB, "
        "so it shrinks with their speed).",
        "- Spread: median (min–max) over the runs of that scale; latency percentiles are "
        "per run, then the median and range of those across runs.",
        "",
        "## Bars",
        "",
        *_bars(biggest, head),
        "",
        *_findings(),
        "## Data",
        "",
        "One seeded generator (`bench/generate.py`) feeds every system. Each scale is one big "
        "tenant of 2,000 employees in 40 departments over 3 years (2023–2025), plus small "
        "tenants of 10 employees; 50 values per industry/source/progress and 200 tags "
        "(Zipf-like popularity), up to 3 tags per customer; roughly chronological with producer "
        "clock skew (≤ 90 s), 1% of events a day late and 0.05% delivered twice.",
        "",
        "| scale | customers (big tenant) | small tenants | records | follow | added | "
        "updated | lost | opportunity | employee |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        mix, params = result["mix"], result["scale_params"]
        total = sum(mix.values())

        def share(kind: str, mix: dict[str, int] = mix, total: int = total) -> str:
            return f"{mix.get(kind, 0) / total * 100:.1f}%"

        out.append(
            f"| {LABEL[name]} | {_int(params['customers'])} | {params['small_tenants']} | "
            f"{_int(result['lines'])} | {share('follow-recorded')} | {share('customer-added')} | "
            f"{share('customer-updated')} | {share('customer-lost')} | "
            f"{share('opportunity-created')} | {share('employee-upserted')} |"
        )
    out += [
        "",
        "## 1. Projector throughput",
        "",
        "The log is published first (4 partitions, the product's producer: linger 20 ms, "
        "batch 256 KiB), then one `custstats projector` process consumes it into an empty "
        "private Redis server (the machine's redis-server, jemalloc, where installed; see "
        "the versions line). *Sustained* counts from its first applied batch to the last "
        "record applied "
        "(read from the offsets it stores with its state); *wall* includes start-up and the "
        "group join. The *ceiling* (`bench/ceiling.py`) is a minimal consumer with the same "
        "consumer settings that only decodes with orjson and does 4 HINCRBY per event in one "
        "Lua call per batch, on a Redis server of its own.",
        "",
        "| scale | projector sustained (events/s) | wall (s) | "
        "CPU s (projector / Redis / Tansu) | "
        "ceiling (events/s) | projector / ceiling | publish (records/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        rates = [run["rate"] for run in result["projector"]]
        ceiling = [run["rate"] for run in result["ceiling"]]
        walls = [run["wall"] for run in result["projector"]]
        cpu = _median([run["cpu"] for run in result["projector"]])
        redis_cpu = _median([run["redis_cpu"] for run in result["projector"]])
        broker_cpu = _median([run.get("broker_cpu", float("nan")) for run in result["projector"]])
        out.append(
            f"| {LABEL[name]} | {_spread(rates, _int)} | {_spread(walls, lambda v: f'{v:.0f}')} | "
            f"{cpu:.0f} / {redis_cpu:.0f} / "
            f"{'–' if broker_cpu != broker_cpu else f'{broker_cpu:.0f}'} | "
            f"{_spread(ceiling, _int)} | "
            f"{_median(rates) / _median(ceiling):.2f} | {_int(result['publish']['rate'])} |"
        )
    out += [
        "",
        "## 2. Query latency (HTTP, one client at a time)",
        "",
        "`custstats api` (one uvicorn worker) on the projection above; one keep-alive client "
        "sends each request once (parameters drawn per request, none repeated; 20 warm-up "
        "requests not counted). Classes: "
        + "; ".join(f"({k}) {v}" for k, v in CLASSES.items())
        + ".",
        "",
    ]
    for name, result in results.items():
        if "queries" not in result:
            continue
        out += [
            f"### {LABEL[name]}",
            "",
            "| class | requests per run | p50 ms | p99 ms | mean ms |",
            "|---|---|---|---|---|",
        ]
        for klass, entry in result["queries"]["classes"].items():
            out.append(
                f"| ({klass}) {CLASSES[klass]} | {entry['count']} | "
                f"{_s(entry['p50_ms'], _ms)} | {_s(entry['p99_ms'], _ms)} | "
                f"{_s(entry['mean_ms'], _ms)} |"
            )
        wrk = result["queries"]["wrk"]
        out += [
            "",
            f"Mix of all six classes (1,200 distinct bodies) at {wrk[0]['connections']} "
            f"connections with wrk (2 threads, 20 s per run, on the same 2 cores): "
            f"{_spread([run['rps'] for run in wrk], _int)} requests/s, "
            f"p50 {_spread([run['p50_ms'] for run in wrk], _ms)} ms, "
            f"p99 {_spread([run['p99_ms'] for run in wrk], _ms)} ms, "
            f"socket errors/timeouts {sum(run['errors'] for run in wrk)}. "
            f"Redis commands per request: {result['queries']['commands_per_request']:.1f}.",
            "",
        ]
    out += legacy_section(results, LABEL, head.get("servers", {}).get("mariadb", ""))
    out += duckdb_section(results, LABEL)
    out += ["## 4. Rebuild", ""]
    for name, result in results.items():
        rebuild = result.get("rebuild")
        if rebuild:
            out.append(
                f"- {LABEL[name]}: {_s(rebuild['seconds'], lambda v: f'{v:.0f} s')} — "
                f"{rebuild['kind']}."
            )
    out += [
        "",
        "## 5. Memory",
        "",
        "`used_memory` of the private Redis server holding nothing but the projection, "
        "after the whole log was applied.",
        "",
        "| scale | used_memory | RSS | keys | bytes per record |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        memory = result["memory"]
        out.append(
            f"| {LABEL[name]} | {memory['used_memory'] / GB:.2f} GiB | "
            f"{memory['used_memory_rss'] / GB:.2f} GiB | {_int(memory['keys'])} | "
            f"{_int(memory['bytes_per_event'])} |"
        )
    out += [
        "",
        "## 6. Cost growth",
        "",
        "| scale | records | projector events/s | (b) p50 / p99 ms | (d) p50 / p99 ms | "
        "used_memory |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        classes = result.get("queries", {}).get("classes", {})

        def cell(klass: str, classes: dict[str, Any] = classes) -> str:
            if klass not in classes:
                return "–"
            entry = classes[klass]
            return f"{_ms(entry['p50_ms']['median'])} / {_ms(entry['p99_ms']['median'])}"

        out.append(
            f"| {LABEL[name]} | {_int(result['lines'])} | "
            f"{_int(_median([run['rate'] for run in result['projector']]))} | "
            f"{cell('b')} | {cell('d')} | {result['memory']['used_memory'] / GB:.2f} GiB |"
        )
    out += [
        "",
        "## Profiles",
        "",
        "Functions by self time (samples where the function itself was running), with "
        "inclusive time (it or what it called); docs/performance.md reads them.",
        "",
    ]
    for name, result in results.items():
        if result.get("profile"):
            out += [
                f"### Projector at {LABEL[name]} (py-spy --idle, 50 Hz, one extra untimed "
                "run; main thread, so waits on Redis count)",
                "",
                *_profile_table(result["profile"]),
                "",
            ]
        api = result.get("queries", {}).get("profile", {})
        for klass, rows in api.items():
            if rows:
                out += [
                    f"### API at {LABEL[name]}, class ({klass}) (py-spy, 200 Hz)",
                    "",
                    *_profile_table(rows),
                    "",
                ]
        stats = result.get("commandstats", {})
        if stats:
            busiest = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:6]
            out += [
                f"Redis server during the last projector run at {LABEL[name]}: "
                + ", ".join(
                    f"{k.removeprefix('cmdstat_')} {_int(v['calls'])} calls / "
                    f"{v['usec'] / 1e6:.1f} s"
                    for k, v in busiest
                )
                + ".",
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS.parent.parent / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.out.write_text(render(_load()))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
