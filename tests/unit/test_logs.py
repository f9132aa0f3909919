"""Logging (issue 11): JSON lines, redaction of secrets, the start-up line; the CLI's help."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from custstats.cli import COMMANDS, HelpFormatter, build_parser
from custstats.logs import configure_logging, effective_settings, log_start, redact
from custstats.settings import Settings

URL = "redis://app:s3cret-pw@redis.internal:6379/0"


def settings(**fields: Any) -> Settings:
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_time_level_logger_message_and_extra_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(logging.INFO, "json")
    logging.getLogger("custstats.test").info("lag is %d", 7, extra={"lag": 7, "partition": 2})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("custstats.test").exception("failed")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert {k: v for k, v in first.items() if k != "time"} == {
        "level": "INFO",
        "logger": "custstats.test",
        "message": "lag is 7",
        "lag": 7,
        "partition": 2,
    }
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.usefixtures("restore_logging")
def test_a_registered_secret_never_reaches_the_output(
    capsys: pytest.CaptureFixture[str], fmt: Any
) -> None:
    configure_logging(logging.INFO, fmt)
    redact(["s3cret-pw", None])
    logging.getLogger("custstats.test").info("connecting to %s", URL)
    out = capsys.readouterr().err
    assert "s3cret-pw" not in out
    assert "redis://app:***@redis.internal:6379/0" in out


@pytest.mark.usefixtures("restore_logging")
def test_chatty_libraries_are_quiet_unless_debugging() -> None:
    configure_logging(logging.INFO)
    assert logging.getLogger("kafka").level == logging.WARNING
    assert logging.getLogger("uvicorn.access").level == logging.INFO
    configure_logging(logging.DEBUG)
    assert logging.getLogger("kafka").level == logging.WARNING


@pytest.mark.usefixtures("restore_logging")
def test_start_up_line_shows_effective_settings_with_the_password_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configured = settings(redis_url=URL, topic="orders")
    shown = effective_settings(configured)
    assert shown["redis_url"] == "redis://app:***@redis.internal:6379/0"
    assert shown["group_id"] == "custstats-projector.orders"
    assert shown["trusted_proxies"] == "127.0.0.1" and shown["ready_max_lag"] == 10_000
    configure_logging(logging.INFO, "json")
    log_start("projector", configured)
    (line,) = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "custstats.projector"
    assert entry["message"].startswith("custstats projector starting: ")
    assert entry["settings"] == shown
    assert "s3cret" not in line


def _options(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif action.option_strings or action.dest not in ("command", "action"):
            yield path, action


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help_and_shows_its_default(command: str) -> None:
    parser = build_parser(command)
    for path, action in _options(parser, "custstats"):
        name = action.option_strings[0] if action.option_strings else action.dest
        if action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{path} {name} has no help"
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            shown = HelpFormatter("custstats")._get_help_string(action) or ""
            assert "%(default)s" in shown, f"{path} {name} does not show its default"
    top = build_parser(command).format_help()
    assert "--log-format {text,json}" in top and "(default: text)" in top
    assert "--version" in top
