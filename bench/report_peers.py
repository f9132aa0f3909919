"""BENCHMARKS.md's DuckDB comparison (issue 14): load time, memory, interleaved latency, answers."""

from __future__ import annotations

import statistics
from typing import Any

from bench.queries import CLASSES

MIB = 1 << 20
BAR = 1 / 3
"""Issue 14: custstats' p99 at most one third of DuckDB's, in every class."""


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def duckdb_bars(result: dict[str, Any]) -> list[str]:
    """Rows of the bars table: the p99 ratio per class and the identical-answer count."""
    duck = result.get("duckdb")
    if not duck or not duck.get("classes"):
        return []
    lines = []
    for klass, entry in duck["classes"].items():
        ratio = entry["p99_ratio"]
        verdict = "**met**" if ratio <= BAR else f"**missed** ({ratio / BAR:.1f}× the bar)"
        lines.append(
            f"| ({klass}) p99 ≤ ⅓ of DuckDB's (interleaved) | {ratio:.2f} "
            f"({_ms(entry['custstats']['p99_ms'])} / {_ms(entry['duckdb']['p99_ms'])} ms) | "
            f"{verdict} |"
        )
    compared = sum(entry["compared"] for entry in duck["classes"].values())
    agreed = sum(entry["agreed"] for entry in duck["classes"].values())
    verdict = "**met**" if agreed == compared else f"**missed** ({compared - agreed} differ)"
    lines.append(f"| every answer identical to DuckDB's | {agreed:,}/{compared:,} | {verdict} |")
    return lines


def _costs(result: dict[str, Any], duck: dict[str, Any]) -> list[str]:
    events = duck["load"]["events"]
    redis = result["memory"]["used_memory"]
    tables = duck["memory"]["memory_usage_bytes"]
    wall = statistics.median(run["wall"] for run in result["projector"])
    rebuild = result.get("rebuild", {}).get("seconds", {}).get("median")
    build = f"{wall:.0f} s of projector (wall, median)"
    if rebuild is not None:
        build += f"; rebuild {rebuild:.0f} s"
    return [
        "| cost | custstats | DuckDB |",
        "|---|---|---|",
        f"| memory | {redis / MIB:,.1f} MiB of Redis used_memory ({redis / events:,.0f} B/event) "
        f"| {tables / MIB:,.1f} MiB of tables (`duckdb_memory()`, {tables / events:,.0f} "
        "B/event) |",
        f"| building it from the log | {build} | {duck['load']['seconds']:.1f} s from raw JSONL "
        f"(of which {duck['load']['parse_s']:.1f} s parsing) |",
    ]


def duckdb_section(results: dict[str, dict[str, Any]], labels: dict[str, str]) -> list[str]:
    """§3b: per scale, the costs, the latency table with ratios and the answers compared."""
    out = [
        "## 3b. DuckDB peer",
        "",
        "What a team without custstats would do (issue 14): the same generated log loaded "
        "into DuckDB tables built with SPEC §2's rules (current attributes and tags, active "
        "relationships with the day of their latest add, counted events deduplicated by "
        "event_id, employees with their latest profile; `bench/peer_duckdb.py`) and one SQL "
        "statement per request. Each request goes to custstats (HTTP, one keep-alive "
        "connection), DuckDB (in-process, SQL time only) and, while its budget lasts, MariaDB, "
        "in an order rotating per request, so machine noise hits every system alike; the "
        "answers are compared field by field (paginator numbers, every row and key).",
        "",
    ]
    for name, result in results.items():
        duck = result.get("duckdb")
        if not duck or not duck.get("classes"):
            continue
        load = duck["load"]
        out += [
            f"### {labels[name]}",
            "",
            f"DuckDB {load['version']} ({load['threads']} threads), {duck['per_class']} "
            "requests per class; tables: "
            + ", ".join(f"{table} {count:,}" for table, count in load["rows"].items())
            + ".",
            "",
            *_costs(result, duck),
            "",
            "| class | requests | custstats p50 / p99 ms (HTTP) | DuckDB p50 / p99 ms (SQL) | "
            "p99 ratio custstats / DuckDB (bar ≤ 0.33) | DuckDB faster | answers identical |",
            "|---|---|---|---|---|---|---|",
        ]
        for klass, entry in duck["classes"].items():
            ours, theirs = entry["custstats"], entry["duckdb"]
            out.append(
                f"| ({klass}) {CLASSES[klass]} | {theirs['count']} | {_ms(ours['p50_ms'])} / "
                f"{_ms(ours['p99_ms'])} | {_ms(theirs['p50_ms'])} / {_ms(theirs['p99_ms'])} | "
                f"{entry['p99_ratio']:.2f} | {entry['duckdb_faster']} | "
                f"{entry['agreed']}/{entry['compared']} |"
            )
        if duck.get("mismatch_count"):
            out += ["", f"Disagreements: {duck['mismatch_count']} (first few):", ""]
            out += [f"- `{line[:400]}`" for line in duck["mismatches"][:10]]
        out.append("")
    return out if len(out) > 9 else []


def legacy_section(
    results: dict[str, dict[str, Any]], labels: dict[str, str], version: str
) -> list[str]:
    """§3: MariaDB's load, latency per class next to custstats' §2 runs, answers compared."""
    out = ["## 3. Legacy baseline (MariaDB)", ""]
    for name, result in results.items():
        legacy = result.get("legacy")
        if not legacy:
            continue
        rows = legacy["load"]["rows"]
        out += [
            f"### {labels[name]}",
            "",
            f"MariaDB {version}, InnoDB buffer pool raised "
            f"from {legacy['buffer_pool_before'] >> 20} MiB to {legacy['buffer_pool'] >> 20} MiB "
            "for the run (restored after) so the legacy tables are served from memory. "
            f"Loaded in {legacy['load']['fold_s'] + legacy['load']['load_s']:.0f} s: "
            + ", ".join(f"{table} {count:,}" for table, count in rows.items())
            + ". "
            "Per request: the paginator's `COUNT(*)` and one query with a `GROUP BY employee` "
            "subquery per metric joined to the current customer attributes, sorted, "
            "`LIMIT/OFFSET` (`bench/legacy.py`). SQL time only, no PHP: flattering to the "
            "baseline. MariaDB runs each class's requests one at a time, at most "
            f"{legacy.get('per_class_max', '?')}, stopping once {legacy.get('budget_s', 60):.0f} s "
            "of a class were used (at least 10 requests); custstats' figures are its own §2 runs "
            "of 1,000 requests per class. "
            "Each MariaDB request was also sent to custstats and the two answers compared "
            "(`total` and every row, all fields)"
            + (", interleaved with DuckDB's (§3b)." if result.get("duckdb") else "."),
            "",
            "| class | MariaDB requests | MariaDB p50 / p99 ms | custstats p50 / p99 ms | "
            "p50 ratio | answers identical |",
            "|---|---|---|---|---|---|",
        ]
        for klass, entry in legacy["classes"].items():
            theirs = entry["latency"]
            ours = result["queries"]["classes"][klass]
            ratio = theirs["p50_ms"] / ours["p50_ms"]["median"]
            out.append(
                f"| ({klass}) | {theirs['count']} | {_ms(theirs['p50_ms'])} / "
                f"{_ms(theirs['p99_ms'])} | {_ms(ours['p50_ms']['median'])} / "
                f"{_ms(ours['p99_ms']['median'])} | {ratio:.1f}× | "
                f"{entry['agreed']}/{entry['compared']} |"
            )
        if legacy["mismatches"]:
            out += ["", "Disagreements (first few):", ""]
            out += [f"- `{line[:300]}`" for line in legacy["mismatches"][:5]]
        out.append("")
    return out
