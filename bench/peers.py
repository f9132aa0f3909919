"""custstats side by side with its peers, request by request: MariaDB (the legacy SQL) and DuckDB.

Each request of a class goes to every system in turn — custstats over HTTP (one
keep-alive connection), DuckDB in-process (SQL only), MariaDB (SQL only, while
its per-class budget lasts) — in an order that rotates from request to request,
so machine noise hits all systems alike. Every peer's answer is compared with
custstats' field by field (bench/compare.py), every mismatch kept with its
request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import httpx
import orjson
import pymysql

from bench import legacy, peer_duckdb, queries
from bench.compare import Tally, differences, page_of
from bench.generate import Scale

WARM_UP = 20
"""Untimed requests per class and system first (other draws than the timed ones)."""
Answer = tuple[float, list[dict[str, Any]], int]


@dataclass(slots=True)
class Peers:
    """The systems of one run: custstats' URL and HTTP client, DuckDB, MariaDB (optional)."""

    url: str
    http: httpx.Client
    duck: duckdb.DuckDBPyConnection
    maria: pymysql.connections.Connection[Any] | None
    maria_per_class: int
    maria_budget_s: float


@dataclass(slots=True)
class ClassRun:
    seconds: dict[str, list[float]] = field(
        default_factory=lambda: {"custstats": [], "duckdb": [], "mariadb": [], "custstats@m": []}
    )
    duckdb_faster: int = 0


def ask_custstats(http: httpx.Client, url: str, body: dict[str, Any]) -> tuple[float, Any]:
    """POST one body; (seconds, the answer's `data` object or the refusal's text)."""
    payload = orjson.dumps(body)
    started = time.perf_counter()
    response = http.post(url, content=payload, headers={"content-type": "application/json"})
    seconds = time.perf_counter() - started
    answer = orjson.loads(response.content)
    if response.status_code != 200 or answer.get("result") != 1:
        return seconds, f"HTTP {response.status_code}: {response.text[:200]}"
    return seconds, answer["data"]


def _judge(tally: Tally, klass: str, body: dict[str, Any], data: Any, answer: Answer) -> None:
    if isinstance(data, str):
        problems = [f"custstats refused: {data}"]
    else:
        problems = differences(data, answer[1], answer[2], *page_of(body))
    tally.add(klass, orjson.dumps(body).decode(), problems)


def _one_request(
    peers: Peers,
    klass: str,
    number: int,
    body: dict[str, Any],
    maria_on: bool,
    run: ClassRun,
    tallies: dict[str, Tally],
) -> None:
    systems: dict[str, Callable[[], Any]] = {
        "custstats": lambda: ask_custstats(peers.http, peers.url, body),
        "duckdb": lambda: peer_duckdb.run_request(peers.duck, body),
    }
    if maria_on and peers.maria is not None:
        maria = peers.maria
        systems["mariadb"] = lambda: legacy.run_request(maria, body)
    names = list(systems)
    turn = number % len(names)
    results = {name: systems[name]() for name in names[turn:] + names[:turn]}
    ours, data = results["custstats"]
    run.seconds["custstats"].append(ours)
    run.seconds["duckdb"].append(results["duckdb"][0])
    run.duckdb_faster += results["duckdb"][0] < ours
    _judge(tallies["duckdb"], klass, body, data, results["duckdb"])
    if "mariadb" in results:
        run.seconds["mariadb"].append(results["mariadb"][0])
        run.seconds["custstats@m"].append(ours)
        _judge(tallies["mariadb"], klass, body, data, results["mariadb"])


def _warm(peers: Peers, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        ask_custstats(peers.http, peers.url, body)
        peer_duckdb.run_request(peers.duck, body)
    if peers.maria is not None and bodies:
        legacy.run_request(peers.maria, bodies[0])  # the connection, not the data


def run_class(
    peers: Peers, klass: str, scale: Scale, per_class: int, tallies: dict[str, Tally]
) -> ClassRun:
    """Every request of one class through every system; MariaDB until its budget of SQL
    seconds is spent (after at least 10 requests)."""
    _warm(peers, queries.request_set(klass, WARM_UP, scale, seed=99))
    bodies = queries.request_set(klass, max(per_class, peers.maria_per_class), scale, seed=0)
    run = ClassRun()
    for number, body in enumerate(bodies):
        maria = run.seconds["mariadb"]  # its own SQL time counts against its budget
        maria_on = len(maria) < peers.maria_per_class and (
            len(maria) < 10 or sum(maria) <= peers.maria_budget_s
        )
        if number >= per_class and not maria_on:
            break
        _one_request(peers, klass, number, body, maria_on, run, tallies)
    return run


def latency(seconds: list[float]) -> dict[str, float]:
    figures = queries.Latency.of(seconds)
    return {
        "count": figures.count,
        "p50_ms": figures.p50_ms,
        "p99_ms": figures.p99_ms,
        "mean_ms": figures.mean_ms,
        "max_ms": figures.max_ms,
    }


def duckdb_class(run: ClassRun, tally: Tally, agreed_before: int, compared_before: int) -> Any:
    """One class's DuckDB entry: both latencies, the p50/p99 ratios, agreement."""
    ours, theirs = latency(run.seconds["custstats"]), latency(run.seconds["duckdb"])
    return {
        "custstats": ours,
        "duckdb": theirs,
        "p50_ratio": ours["p50_ms"] / theirs["p50_ms"],
        "p99_ratio": ours["p99_ms"] / theirs["p99_ms"],
        "duckdb_faster": run.duckdb_faster,
        "agreed": tally.agreed - agreed_before,
        "compared": tally.compared - compared_before,
    }


def interleave(peers: Peers, scale: Scale, per_class: int, log: Callable[[str], None]) -> Any:
    """All six classes; returns (duckdb classes, mariadb classes, tallies)."""
    tallies = {"duckdb": Tally("duckdb"), "mariadb": Tally("mariadb")}
    duck_classes: dict[str, Any] = {}
    maria_classes: dict[str, Any] = {}
    for klass in queries.CLASSES:
        before = {name: (t.agreed, t.compared) for name, t in tallies.items()}
        run = run_class(peers, klass, scale, per_class, tallies)
        entry = duckdb_class(run, tallies["duckdb"], *before["duckdb"])
        duck_classes[klass] = entry
        log(
            f"({klass}) custstats p50/p99 {entry['custstats']['p50_ms']:.1f}/"
            f"{entry['custstats']['p99_ms']:.1f} ms, DuckDB {entry['duckdb']['p50_ms']:.1f}/"
            f"{entry['duckdb']['p99_ms']:.1f} ms (p99 ratio {entry['p99_ratio']:.2f}); "
            f"{entry['agreed']}/{entry['compared']} identical"
        )
        if run.seconds["mariadb"]:
            agreed = tallies["mariadb"].agreed - before["mariadb"][0]
            maria_classes[klass] = {
                "latency": latency(run.seconds["mariadb"]),
                "ours": latency(run.seconds["custstats@m"]),
                "agreed": agreed,
                "compared": tallies["mariadb"].compared - before["mariadb"][1],
            }
            log(
                f"({klass}) MariaDB p50 {maria_classes[klass]['latency']['p50_ms']:.0f} ms over "
                f"{len(run.seconds['mariadb'])}; {agreed} identical"
            )
    return duck_classes, maria_classes, tallies
