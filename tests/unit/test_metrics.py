"""Metrics of the projector and the API: values after a known workload, bounded labels,
the projector's exporter, and the API's multiprocess mode across real OS processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import PlainTextResponse

from api.metrics import (
    ENV,
    OUTCOMES,
    UNMATCHED,
    install,
    mark_process_dead,
    multiprocess_dir,
    outcome_for_status,
    prepare_multiprocess_dir,
    render_latest,
    set_outcome,
)
from events.decode import Poison, decode
from events.schema import TYPE_NAMES, Event
from projector.metrics import PHASES, POISON_CATEGORIES, ProjectorMetrics, poison_category, serve

ROOT = Path(__file__).resolve().parents[2]
BASE = {"event_id": "e1", "tenant_id": 25, "occurred_at": 1_680_000_000, "customer_id": 7}


def _updated(**changes: object) -> bytes:
    return json.dumps({**BASE, "type": "customer-updated", **changes}).encode()


CATEGORIES = [
    (None, "invalid_json"),
    (b"", "invalid_json"),
    (b"{not json", "invalid_json"),
    (b"\xff\xfe{}", "invalid_json"),
    (b"[]", "invalid_json"),
    (json.dumps({**BASE, "type": "customer-lost"}).encode(), "missing_field"),
    (json.dumps({**BASE, "type": "customer-deleted"}).encode(), "unknown_type"),
    (json.dumps(BASE).encode(), "unknown_type"),  # no type at all
    (json.dumps({**BASE, "type": "follow-recorded", "employee_id": "3"}).encode(), "wrong_type"),
    (_updated(tag_ids=None), "wrong_type"),
    (_updated(customer_id=2**63), "over_limit"),
    (_updated(tenant_id=0), "over_limit"),
    (_updated(event_id="x" * 129), "over_limit"),
    (_updated(event_id=""), "over_limit"),
    (_updated(occurred_at="x"), "bad_timestamp"),
    (_updated(occurred_at=1.5), "bad_timestamp"),
    (_updated(occurred_at=-1), "bad_timestamp"),
]


@pytest.mark.parametrize(("record", "category"), CATEGORIES)
def test_each_decoder_reason_falls_in_its_category(record: bytes | None, category: str) -> None:
    verdict = decode(record)
    assert isinstance(verdict, Poison), verdict
    assert poison_category(verdict.reason) == category, verdict.reason


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("record too large: 70,000 bytes (at most 65,536)", "too_large"),
        ("record of 70000 bytes is over the 64 KiB limit", "too_large"),
        ("field 'tag_ids': too many entries (at most 100)", "over_limit"),
        ("field 'name': longer than 255 characters", "over_limit"),
        ("field 'occurred_at': second 60 is only a leap second at 23:59 UTC", "bad_timestamp"),
        ("missing field 'customer_id'; missing field 'tenant_id'", "missing_field"),
        ("unknown type 'too large bytes' (expected one of ...)", "unknown_type"),
        ("field 'name': expected a string, got an integer", "wrong_type"),
        ("cannot decode: RecursionError: maximum recursion depth", "other"),
        ("something new the decoder says", "other"),
    ],
)
def test_reasons_the_decoder_may_phrase_later(reason: str, category: str) -> None:
    assert poison_category(reason) == category


def test_categories_are_the_fixed_set() -> None:
    reasons = [decode(record) for record, _ in CATEGORIES]
    found = {poison_category(r.reason) for r in reasons if isinstance(r, Poison)}
    assert found <= set(POISON_CATEGORIES)


def _event(kind: str, event_id: str) -> Event:
    fields: dict[str, object] = {**BASE, "type": kind, "event_id": event_id, "employee_id": 3}
    if kind == "customer-added":
        fields |= {"industry_id": None, "source_id": None, "progress_id": None, "tag_ids": []}
    verdict = decode(json.dumps(fields).encode())
    assert not isinstance(verdict, Poison), verdict
    return verdict


def test_counters_say_what_a_known_workload_did() -> None:
    registry = CollectorRegistry()
    metrics = ProjectorMetrics(registry)
    value = registry.get_sample_value
    assert value("custstats_events_applied_total", {"type": "follow-recorded"}) == 0
    assert value("custstats_poison_total", {"reason": "too_large"}) == 0
    events = [_event("follow-recorded", f"f{i}") for i in range(5)]
    events += [_event("customer-added", f"a{i}") for i in range(3)]
    metrics.batch_applied(events, ["invalid JSON: x", "missing field 'x'"], 0.004, duplicates=2)
    metrics.batch_applied([_event("customer-lost", "l")], ["empty record"], 0.2)
    assert value("custstats_events_applied_total", {"type": "follow-recorded"}) == 5
    assert value("custstats_events_applied_total", {"type": "customer-added"}) == 3
    assert value("custstats_events_applied_total", {"type": "customer-lost"}) == 1
    assert value("custstats_poison_total", {"reason": "invalid_json"}) == 2
    assert value("custstats_poison_total", {"reason": "missing_field"}) == 1
    assert value("custstats_duplicates_total") == 2
    assert value("custstats_batch_size_events_count") == 2
    assert value("custstats_batch_size_events_sum") == 12
    assert value("custstats_redis_write_duration_seconds_bucket", {"le": "0.005"}) == 1
    assert value("custstats_redis_write_duration_seconds_count") == 2
    assert (value("custstats_last_batch_timestamp_seconds") or 0) > 1.7e9
    families = {f.name: f for f in registry.collect()}
    types = {s.labels["type"] for s in families["custstats_events_applied"].samples if s.labels}
    assert types == set(TYPE_NAMES)


def test_lag_falls_to_zero_and_revoked_partitions_disappear() -> None:
    registry = CollectorRegistry()
    metrics = ProjectorMetrics(registry)
    metrics.offsets("ev", {0: 10, 1: 40}, {0: 50, 1: 40})

    def lag(partition: int) -> float | None:
        labels = {"topic": "ev", "partition": str(partition)}
        return registry.get_sample_value("custstats_partition_lag", labels)

    assert (lag(0), lag(1)) == (40, 0)
    metrics.offsets("ev", {0: 50}, {0: 50})
    assert lag(0) == 0
    applied = {"topic": "ev", "partition": "0"}
    assert registry.get_sample_value("custstats_partition_applied_offset", applied) == 50
    metrics.forget_partitions("ev", [0, 7])
    assert lag(0) is None and lag(1) == 0


def test_outage_errors_retries_and_rebuild_phase() -> None:
    registry = CollectorRegistry()
    metrics = ProjectorMetrics(registry)
    value = registry.get_sample_value
    metrics.server_error("redis")
    metrics.server_retry("redis")
    metrics.server_retry("redis")
    assert value("custstats_server_outage", {"server": "redis"}) == 1
    assert value("custstats_server_outage", {"server": "kafka"}) == 0
    assert value("custstats_server_retries_total", {"server": "redis"}) == 2
    assert value("custstats_server_errors_total", {"server": "redis"}) == 1
    metrics.server_ok("redis")
    assert value("custstats_server_outage", {"server": "redis"}) == 0
    assert value("custstats_rebuild_phase", {"phase": "idle"}) == 1
    metrics.set_rebuild_phase("bulk")
    metrics.set_rebuild_progress(250, 1000)
    phases = {p: value("custstats_rebuild_phase", {"phase": p}) for p in PHASES}
    assert phases == {p: (1 if p == "bulk" else 0) for p in PHASES}
    assert value("custstats_rebuild_progress_ratio") == 0.25
    metrics.set_rebuild_progress(5, 0)
    assert value("custstats_rebuild_progress_ratio") == 0
    with pytest.raises(ValueError, match="unknown rebuild phase"):
        metrics.set_rebuild_phase("done")


def test_projector_serves_its_registry_over_http() -> None:
    registry = CollectorRegistry()
    ProjectorMetrics(registry).batch_applied([_event("customer-lost", "l")])
    server = serve(0, registry, addr="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'custstats_events_applied_total{type="customer-lost"} 1.0' in body


def _app() -> tuple[FastAPI, CollectorRegistry]:
    app = FastAPI()

    @app.get("/api/{tenant_id}/stats")
    async def stats(request: Request, tenant_id: str) -> dict[str, int]:
        if tenant_id == "0":
            set_outcome(request, "invalid_appid")
        return {"result": 1}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.mount("/assets", PlainTextResponse("asset"))
    registry = CollectorRegistry()
    install(app, registry)
    return app, registry


def test_requests_are_counted_by_route_template_and_outcome() -> None:
    app, registry = _app()
    with TestClient(app, raise_server_exceptions=False) as client:
        for tenant in ("1", "2", "0"):
            assert client.get(f"/api/{tenant}/stats").status_code == 200
        assert client.get("/no/such/path/123").status_code == 404
        assert client.get("/boom").status_code == 500
        assert client.get("/assets/app.js").text == "asset"
        scrape = client.get("/metrics")
    value = registry.get_sample_value
    route = "/api/{tenant_id}/stats"
    assert value("custstats_http_requests_total", {"route": route, "outcome": "ok"}) == 2
    assert value("custstats_http_requests_total", {"route": route, "outcome": "invalid_appid"}) == 1
    assert value("custstats_http_requests_total", {"route": UNMATCHED, "outcome": "bad_param"}) == 1
    assert value("custstats_http_requests_total", {"route": "/boom", "outcome": "unavailable"}) == 1
    assert value("custstats_http_request_duration_seconds_count", {"route": route}) == 3
    assert value("custstats_http_requests_total", {"route": "/assets", "outcome": "ok"}) == 1
    assert scrape.headers["content-type"].startswith("text/plain")
    assert "custstats_http_requests_total" in scrape.text
    assert "/metrics" not in app.openapi()["paths"]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "ok"), (304, "ok"), (400, "bad_param"), (413, "bad_param"), (503, "unavailable")],
)
def test_outcome_from_status(status: int, outcome: str) -> None:
    assert outcome_for_status(status) == outcome
    assert outcome in OUTCOMES


WORKER = textwrap.dedent(
    """
    import sys
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from api.metrics import install

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, int]:
        return {"ok": 1}

    install(app)
    with TestClient(app) as client:
        for _ in range(int(sys.argv[1])):
            client.get("/ping")
        if sys.argv[2] == "scrape":
            sys.stdout.write(client.get("/metrics").text)
    """
)


def _worker(directory: Path, count: int, scrape: bool) -> str:
    env = {**os.environ, ENV: str(directory), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(count), "scrape" if scrape else "-"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def _requests(text: str, route: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "custstats_http_requests_total" and sample.labels["route"] == route:
                return sample.value
    return 0.0


def test_several_worker_processes_export_one_sum(tmp_path: Path) -> None:
    directory = prepare_multiprocess_dir(tmp_path / "prom")
    try:
        _worker(directory, 3, scrape=False)
        scraped = _worker(directory, 2, scrape=True)  # a second process scrapes
    finally:
        os.environ.pop(ENV, None)
    assert _requests(scraped, "/ping") == 5
    body, content_type = render_latest(directory)  # the sum, read from this third process
    assert _requests(body.decode(), "/ping") == 5
    assert content_type.startswith("text/plain")
    assert len(list(directory.glob("counter_*.db"))) == 2
    mark_process_dead(12345, directory)  # no live gauges: nothing of the counts is lost
    assert _requests(render_latest(directory)[0].decode(), "/ping") == 5


def test_multiprocess_dir_is_prepared_and_cleaned(tmp_path: Path) -> None:
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"old")
    (given / "keep.txt").write_text("not ours")
    before = os.environ.get(ENV)
    with multiprocess_dir(given) as directory:
        assert os.environ[ENV] == str(given) and directory == given
        assert not (given / "counter_1.db").exists() and (given / "keep.txt").exists()
    assert given.exists() and os.environ.get(ENV) == before
    with multiprocess_dir() as temporary:
        assert temporary.is_dir() and os.environ[ENV] == str(temporary)
    assert not temporary.exists() and os.environ.get(ENV) == before
