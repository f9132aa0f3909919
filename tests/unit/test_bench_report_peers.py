"""BENCHMARKS.md's DuckDB section and bars (bench/report_peers.py) from a result file's shape."""

from __future__ import annotations

from typing import Any

from bench.report_peers import duckdb_bars, duckdb_section


def _latency(p50: float, p99: float) -> dict[str, float]:
    return {"count": 200, "p50_ms": p50, "p99_ms": p99, "mean_ms": p50, "max_ms": p99}


def _result() -> dict[str, Any]:
    entry = {
        "custstats": _latency(5.0, 8.0),
        "duckdb": _latency(20.0, 30.0),
        "p50_ratio": 0.25,
        "p99_ratio": 8.0 / 30.0,
        "duckdb_faster": 0,
        "agreed": 200,
        "compared": 200,
    }
    slow = entry | {"p99_ratio": 0.8, "agreed": 199, "custstats": _latency(9.0, 24.0)}
    return {
        "memory": {"used_memory": 100 << 20},
        "projector": [{"wall": 50.0}, {"wall": 52.0}],
        "rebuild": {"seconds": {"median": 41.0}},
        "duckdb": {
            "load": {
                "seconds": 1.4,
                "parse_s": 1.0,
                "events": 200_000,
                "rows": {"facts": 170_000},
                "threads": 2,
                "version": "2.0.1",
            },
            "memory": {"memory_usage_bytes": 5 << 20},
            "per_class": 200,
            "classes": {"a": entry, "c": slow},
            "mismatch_count": 1,
            "mismatches": ['c {"page": 1}: row 1 (id 7): follow_count custstats 1 != peer 2'],
        },
    }


def test_bars_judge_every_class_and_the_answers() -> None:
    lines = duckdb_bars(_result())
    assert lines[0].startswith("| (a) p99 ≤ ⅓ of DuckDB's (interleaved) | 0.27 (8.0 / 30.0 ms)")
    assert lines[0].endswith("**met** |")
    assert "**missed** (2.4× the bar)" in lines[1]
    assert lines[2] == "| every answer identical to DuckDB's | 399/400 | **missed** (1 differ) |"
    assert duckdb_bars({}) == []


def test_section_sets_costs_latency_and_mismatches_side_by_side() -> None:
    text = "\n".join(duckdb_section({"S0": _result()}, {"S0": "S0"}))
    assert "| memory | 100.0 MiB of Redis used_memory (524 B/event) | 5.0 MiB of tables" in text
    assert "51 s of projector (wall, median); rebuild 41 s | 1.4 s from raw JSONL" in text
    row = "| (c) date range + one customer filter | 200 | 9.0 / 24.0 | 20.0 / 30.0 | 0.80 |"
    assert row in text
    assert "Disagreements: 1" in text
    assert duckdb_section({"S0": {"memory": {}}}, {"S0": "S0"}) == []
