"""Issue 11: `custstats api --workers 2` exports one coherent set of metrics; the access log
is on by default, with one worker or several.

Two uvicorn worker processes share the listening socket; requests on fresh connections
land on both. Whichever worker answers a scrape, it reports every request of both
(prometheus-client's multiprocess mode, with the directory `custstats api` prepares).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from custstats.servers import free_port
from projector.layout import ControlLayout
from tests.support.api import create_version, mark_projection_complete

pytestmark = pytest.mark.e2e

ROUTE = "/business/{tenant_id}/plugin/CustomerManage/getStatisticsList"


def _get(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(params=[2], ids=["workers=2"])
def api(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    key_prefix: str,
) -> Iterator[tuple[str, Path]]:
    redis_client.sadd(ControlLayout(key_prefix).registered_tenants, "25")
    create_version(redis_client, key_prefix)
    mark_projection_complete(redis_client, key_prefix)
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run")  # must be cleared
    env = {
        **os.environ,
        "CUSTSTATS_REDIS_URL": redis_url,
        "CUSTSTATS_KEY_PREFIX": key_prefix,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    workers = str(request.param)
    command = [
        sys.executable,
        "-m",
        "custstats.cli",
        "api",
        "--port",
        str(port),
        "--workers",
        workers,
    ]
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield base, metrics_dir
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _count(scrape: str, outcome: str) -> float:
    route = re.escape(ROUTE)
    pattern = rf'^custstats_http_requests_total\{{outcome="{outcome}",route="{route}"\}} (\S+)$'
    found = re.search(pattern, scrape, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_two_workers_export_one_coherent_set(api: tuple[str, Path]) -> None:
    base, metrics_dir = api
    endpoint = base + ROUTE.replace("{tenant_id}", "{}")
    sent = {"ok": 0, "invalid_appid": 0, "bad_param": 0}
    for index in range(120):
        if index % 3 == 0:
            status, _ = _get(endpoint.format(25))
            sent["ok"] += 1
        elif index % 3 == 1:
            status, _ = _get(endpoint.format(99))
            sent["invalid_appid"] += 1
        else:
            status, _ = _get(endpoint.format(25) + "?per_page=1000")
            sent["bad_param"] += 1
        assert status == 200
    pids = {re.sub(r"\D", "", path.stem) for path in metrics_dir.glob("counter_*.db")}
    assert len(pids) == 2, f"requests reached {len(pids)} worker(s)"
    for _ in range(6):  # scrapes land on either worker: each one reports all
        status, body = _get(f"{base}/metrics")
        scrape = body.decode()
        assert status == 200
        assert {outcome: _count(scrape, outcome) for outcome in sent} == sent


@pytest.mark.parametrize("api", [1, 2], indirect=True, ids=["workers=1", "workers=2"])
def test_the_access_log_is_on_by_default(api: tuple[str, Path]) -> None:
    base, metrics_dir = api
    for _ in range(4):
        assert _get(base + ROUTE.replace("{tenant_id}", "25"))[0] == 200
    log = metrics_dir.parent / "api.log"
    deadline = time.monotonic() + 5
    while log.read_text().count('"GET /business/25/plugin/CustomerManage/getStatisticsList') < 4:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
