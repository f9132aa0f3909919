"""`custstats dev` as a newcomer runs it: one command, a URL that answers, Ctrl-C, nothing left.

Each run records the processes `custstats dev` started (its descendants, from /proc)
while it is up, and checks that every one of them is gone once it has exited.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from pydantic import SecretStr

from custstats.demo import demo_events
from custstats.dev import applied_offsets
from custstats.servers import free_port
from custstats.settings import Settings
from tests.messy import messy_events
from tests.support.reference_api import REFERENCE_QUERIES, reference_page
from tests.support.servers import EnvFactory, TopicFactory

pytestmark = pytest.mark.e2e

CUSTSTATS = str(Path(sys.executable).with_name("custstats"))
READY_LINE = re.compile(r"custstats is running: (\S+)")
Process = tuple[int, int]  # pid and start time: a pid alone may be reused


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time, state) of a live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces
    return int(fields[1]), int(fields[19]), fields[0]


def descendants(root: int) -> set[Process]:
    """Every live process below `root` in the process tree."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents.setdefault(stat[0], []).append((int(entry), stat[1]))
    found: set[Process] = set()
    todo = [root]
    while todo:
        for pid, start in parents.get(todo.pop(), []):
            found.add((pid, start))
            todo.append(pid)
    return found


def command_line(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def running(process: Process) -> bool:
    stat = _stat(process[0])
    return stat is not None and stat[1] == process[1] and stat[2] not in ("Z", "X")


def post(url: str, params: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=orjson.dumps(params), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = orjson.loads(response.read())
    return answer


class DevRun:
    """One `custstats dev` process, its output in files, and every process it started."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        self.out = tmp_path / "dev.out"
        self.err = tmp_path / "dev.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [CUSTSTATS, "dev", *args], env=env, cwd=tmp_path, stdout=out, stderr=err
            )
        self.started: set[Process] = set()

    def watch(self) -> None:
        self.started |= descendants(self.proc.pid)

    def wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.watch()
            text = self.out.read_text()
            if (match := READY_LINE.search(text)) and "Press Ctrl-C" in text:
                return match[1]
            if self.proc.poll() is not None:
                pytest.fail(f"dev exited with {self.proc.returncode}:\n{self.stderr()}")
            time.sleep(0.2)
        pytest.fail(f"no URL within {timeout} s:\n{self.stderr()}")

    def stop(self, signum: int, timeout: float = 40) -> int:
        self.watch()
        self.proc.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.watch()
            time.sleep(0.1)
        try:
            return self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"dev still running after {timeout} s:\n{self.stderr()}")

    def leftovers(self) -> set[Process]:
        deadline = time.monotonic() + 2  # the kernel may still be reaping
        while (left := {p for p in self.started if running(p)}) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")[-6000:]

    def kill_all(self) -> None:
        """Teardown after a failure: nothing of ours may outlive the test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid, _ in {p for p in self.started if running(p)}:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def dev_runs(tmp_path: Path) -> Iterator[list[DevRun]]:
    runs: list[DevRun] = []
    yield runs
    for run in runs:
        run.kill_all()


def embedded_env(prefix: str) -> dict[str, str]:
    """No servers configured at all, as on a fresh machine; only a prefix of our own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CUSTSTATS_")}
    return base | {"CUSTSTATS_KEY_PREFIX": prefix}


def test_dev_demo_on_a_fresh_machine_answers_a_curl_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, dev_runs: list[DevRun]
) -> None:
    port = free_port()
    started = time.monotonic()
    run = DevRun(
        tmp_path, embedded_env(f"t-{uuid.uuid4().hex[:12]}"), "--demo", "--port", str(port)
    )
    dev_runs.append(run)
    url = run.wait_for_url(timeout=60)
    assert time.monotonic() - started < 60
    assert url == f"http://127.0.0.1:{port}/business/25/plugin/CustomerManage/getStatisticsList"
    assert len(run.started) >= 4, run.started  # broker, Redis, projector, API
    assert "embedded Tansu broker" in run.stderr() and "embedded Valkey" in run.stderr()

    answer = post(url, {})
    assert (answer["result"], answer["msg"]) == (1, "ok")
    paginator = answer["data"]
    demo = demo_events()
    staff = {e["employee_id"] for e in demo if e["tenant_id"] == 25 and "employee_id" in e}
    assert paginator["total"] == len(staff)
    rows = paginator["data"]
    assert len(rows) == 10 and paginator["last_page"] == -(-len(staff) // 10)
    counts = [row["customer_count"] for row in rows]
    assert counts == sorted(counts, reverse=True) and counts[0] > 50
    assert all("opportunity_count" in row for row in rows)
    assert any(re.search(r"[\u4e00-\u9fff]", row["name"]) for row in rows)
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    newest = max(datetime.date.fromisoformat(row["follow_last_date"][:10]) for row in rows)
    assert (today - newest).days <= 3  # a year of history that ends about now
    without_plugin = post(url.replace("/25/", "/27/"), {"per_page": 3})["data"]["data"]
    assert without_plugin and all("opportunity_count" not in row for row in without_plugin)

    curl = next(line.strip() for line in run.out.read_text().splitlines() if "curl " in line)
    if shutil.which("curl"):
        pasted = subprocess.run(shlex.split(curl), capture_output=True, timeout=20, check=True)
        assert len(orjson.loads(pasted.stdout)["data"]["data"]) == 5

    assert run.stop(signal.SIGINT) == 0, run.stderr()
    assert run.leftovers() == set(), run.stderr()


def test_dev_uses_the_configured_servers_and_answers_like_the_reference(
    tmp_path: Path, dev_runs: list[DevRun], settings_env: EnvFactory, make_topic: TopicFactory
) -> None:
    env = settings_env(make_topic(4))
    run = DevRun(tmp_path, env, "--port", str(free_port()))
    dev_runs.append(run)
    url = run.wait_for_url()
    log = run.stderr()
    assert "(CUSTSTATS_KAFKA_BOOTSTRAP)" in log and "(CUSTSTATS_REDIS_URL)" in log
    assert "embedded" not in log
    assert "custstats dev starting: " in log
    assert f"created topic {env['CUSTSTATS_TOPIC']}.config (operator settings)" in log
    assert len(run.started) == 2, run.started  # only the projector and the API
    assert "no events yet" in run.out.read_text()

    events = messy_events(seed=41, n=2000)
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    published = subprocess.run(
        [CUSTSTATS, "publish", str(source)], env=env, capture_output=True, timeout=60
    )
    assert published.returncode == 0, published.stderr.decode()

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=SecretStr(env["CUSTSTATS_REDIS_URL"]),
        topic=env["CUSTSTATS_TOPIC"],
        key_prefix=env["CUSTSTATS_KEY_PREFIX"],
    )
    client = redis.Redis.from_url(settings.redis())
    try:
        deadline = time.monotonic() + 30
        while sum(applied_offsets(client, settings).values()) < len(events):
            assert time.monotonic() < deadline, applied_offsets(client, settings)
            time.sleep(0.2)
    finally:
        client.close()

    for params in REFERENCE_QUERIES[:6]:
        for tenant in (1, 2, 3):
            paginator = post(url.replace("/25/", f"/{tenant}/"), params)["data"]
            rows, total = reference_page(events, tenant, params)
            assert (paginator["data"], paginator["total"]) == (rows, total), (tenant, params)

    assert run.stop(signal.SIGTERM) == 0, run.stderr()
    assert run.leftovers() == set(), run.stderr()


def test_a_child_that_dies_ends_dev_with_a_message_and_nothing_left(
    tmp_path: Path, dev_runs: list[DevRun], settings_env: EnvFactory, make_topic: TopicFactory
) -> None:
    run = DevRun(tmp_path, settings_env(make_topic(1)), "--port", str(free_port()))
    dev_runs.append(run)
    run.wait_for_url()
    run.watch()
    (api,) = [pid for pid, _ in run.started if b"api" in command_line(pid)]
    os.kill(api, signal.SIGKILL)
    code = run.wait(timeout=60)
    assert code == 1
    assert "custstats dev: the api exited unexpectedly with code -9" in run.stderr()
    assert run.leftovers() == set(), run.stderr()
