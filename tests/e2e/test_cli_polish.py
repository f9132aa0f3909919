"""The CLI as a new user meets it (issue 11): version, one-line setting errors, a busy port,
logs that never hold the Redis password, JSON logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from custstats.servers import LOOPBACK, EmbeddedRedis
from tests.support.servers import EnvFactory

pytestmark = pytest.mark.e2e

CUSTSTATS = str(Path(sys.executable).with_name("custstats"))
PASSWORD = "pw-Zq81xK-never-logged"


def custstats(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CUSTSTATS, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def clean_env(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CUSTSTATS_")}
    return base | variables


def test_version() -> None:
    done = custstats(clean_env(), "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("custstats 0.")


@pytest.mark.parametrize(
    "args",
    [
        ["dev"],
        ["projector"],
        ["api"],
        ["rebuild"],
        ["status"],
        ["publish", "-"],
        ["tenant", "show", "25"],
        ["schema"],
    ],
)
def test_a_bad_setting_is_one_line_naming_its_variable_for_every_command(
    args: list[str],
) -> None:
    env = clean_env(CUSTSTATS_DISPLAY_TZ="Mars/Base", CUSTSTATS_REDIS_URL="redis://:pw@h:1/0")
    done = custstats(env, *args, timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "custstats: CUSTSTATS_DISPLAY_TZ: unknown time zone 'Mars/Base'\n"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_dev_on_a_busy_port_says_so_before_starting_anything(busy_port: int) -> None:
    """It used to start a broker and Valkey, print "custstats is running" for whoever held the
    port, then die when its own API could not bind."""
    start = time.monotonic()
    done = custstats(clean_env(), "dev", "--port", str(busy_port), timeout=60)
    assert time.monotonic() - start < 10  # no embedded server was started and waited for
    assert done.returncode == 1
    assert done.stdout == ""  # no banner, no curl
    errors = [line for line in done.stderr.splitlines() if " INFO " not in line]
    assert errors == [
        f"custstats dev: port {busy_port} on 127.0.0.1 is already in use (another custstats "
        "dev?): stop it or choose another port with --port"
    ]
    assert "embedded" not in done.stderr and "started" not in done.stderr


@pytest.fixture
def password_redis() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(password=PASSWORD) as server:
        yield server


def test_no_log_line_holds_the_redis_password(
    settings_env: EnvFactory, password_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """Issue 10 finding 8 / issue 11: a run with a password in CUSTSTATS_REDIS_URL, in both log
    formats: the start-up line shows the URL masked, and no line holds the password."""
    assert PASSWORD in password_redis.url
    env = settings_env() | {"CUSTSTATS_REDIS_URL": password_redis.url}
    event = (
        '{"event_id":"e1","type":"employee-upserted","tenant_id":5,"occurred_at":0,'
        '"employee_id":1,"name":"x","department_ids":[],"userid":null,"avatar_mediaid":null}\n'
    )
    (tmp_path / "e.jsonl").write_text(event)
    assert custstats(env, "publish", str(tmp_path / "e.jsonl")).returncode == 0
    runs = {
        fmt: custstats(env, "-v", "--log-format", fmt, "projector", "--idle-exit", "2")
        for fmt in ("text", "json")
    }
    masked = f"redis://:***@{LOOPBACK}:{password_redis.port}/0"
    for fmt, done in runs.items():
        assert done.returncode == 0, done.stderr
        output = done.stdout + done.stderr
        assert PASSWORD not in output, fmt
        assert "custstats projector starting: " in output
        assert masked in output
    lines = [json.loads(line) for line in runs["json"].stderr.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    (start,) = [line for line in lines if line["message"].startswith("custstats projector start")]
    assert start["settings"]["redis_url"] == masked
    assert start["settings"]["topic"] == env["CUSTSTATS_TOPIC"]
