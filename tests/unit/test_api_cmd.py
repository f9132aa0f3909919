"""`custstats api` runs uvicorn with the edge's options (issue 10, finding 8; issue 11)."""

from __future__ import annotations

import argparse
import os
from typing import Any

import pytest
from pydantic import SecretStr

from api.http_protocol import DeadlineHttpToolsProtocol
from api.metrics import ENV
from custstats import api_cmd
from custstats.settings import Settings


def _run(monkeypatch: pytest.MonkeyPatch, workers: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen.update(options, app=app, multiproc=os.environ.get(ENV))
        seen["log_format"] = os.environ.get(api_cmd.LOG_FORMAT_ENV)

    monkeypatch.setattr("custstats.api_cmd.uvicorn.run", fake_run)
    monkeypatch.delenv(ENV, raising=False)
    settings = Settings(_env_file=None, redis_url=SecretStr("redis://127.0.0.1:1/0"))  # type: ignore[call-arg]
    args = argparse.Namespace(host="127.0.0.1", port=0, workers=workers, log_format="text")
    assert api_cmd.run(args, settings) == 0
    return seen


@pytest.mark.parametrize("workers", [1, 3])
def test_uvicorn_gets_the_deadline_protocol_timeouts_and_access_log(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    options = _run(monkeypatch, workers)
    assert issubclass(options["http"], DeadlineHttpToolsProtocol)
    assert 0 < options["timeout_keep_alive"] <= 10
    assert options["proxy_headers"] is False  # api.proxies judges the TCP peer itself
    assert options["access_log"] is True


def test_several_workers_share_a_private_metrics_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    options = _run(monkeypatch, 3)
    assert options["workers"] == 3 and options["factory"] is True
    assert options["multiproc"] and not os.path.exists(options["multiproc"])  # removed at exit
    assert options["log_format"] == "text"  # the workers log as the CLI does
    assert api_cmd.LOG_FORMAT_ENV not in os.environ
    assert _run(monkeypatch, 1)["multiproc"] is None
