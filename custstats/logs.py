"""Logging of every `custstats` command: text for people, JSON lines for log shippers.

`configure_logging(level, fmt)` installs one stderr handler on the root logger.
`text` is `time LEVEL logger: message`; `json` is one object per line with `time`
(RFC 3339 UTC), `level`, `logger`, `message`, every extra field the call passed
(`log.info("...", extra={"lag": 3})`) and `exception` when there is one.

Secrets never reach the output: `redact(...)` registers strings (the Redis
password) that the handler replaces with `***` in whatever it writes, a second
line of defence behind logging URLs only through `masked_url`.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

from custstats.settings import Settings, masked_url

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"

QUIET_LOGGERS = {
    "kafka": logging.WARNING,  # kafka-python logs every connection and rebalance at INFO
    "uvicorn": logging.INFO,
    "uvicorn.error": logging.INFO,
    "uvicorn.access": logging.INFO,
    "asyncio": logging.WARNING,
}

# attributes every LogRecord has: anything else on a record came from `extra=`
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _Redacting(logging.Formatter):
    """A formatter whose output never holds a registered secret."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner
        self.secrets: set[str] = set()

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


_HANDLER_NAME = "custstats"


def configure_logging(level: int, fmt: LogFormat = "text") -> None:
    """Our one stderr handler on the root logger, and quiet levels for chatty libraries."""
    inner = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_Redacting(inner))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet, level))


def redact(secrets: Iterable[str | None]) -> None:
    """Mask these strings in everything our handler writes from now on."""
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        if isinstance(formatter, _Redacting):
            formatter.secrets.update(secret for secret in secrets if secret)


def url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting as the command uses it, secrets masked: for the start-up line."""
    shown: dict[str, Any] = settings.model_dump(mode="json", exclude={"redis_url"})
    shown["kafka_bootstrap"] = ",".join(settings.kafka_servers())
    shown["redis_url"] = masked_url(settings.redis())
    shown["group_id"] = settings.consumer_group
    return dict(sorted(shown.items()))


def log_start(command: str, settings: Settings, **details: Any) -> None:
    """The start-up line of a long-running command: its effective settings, secrets masked."""
    shown = effective_settings(settings)
    text = " ".join(f"{name}={value}" for name, value in shown.items())
    logging.getLogger(f"custstats.{command}").info(
        "custstats %s starting: %s", command, text, extra={"settings": shown, **details}
    )
