"""Raw Kafka record bytes to an event, or to a one-line reason why the record is poison.

The projector calls `decode` once per record, so the valid path is a single
pydantic `validate_json` call; all the work of explaining a rejection happens
only on the error path, where it is worth it: the reason is what an upstream
team reads in the dead-letter topic to fix its producer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from events.schema import EVENT_ADAPTER, MAX_RECORD_BYTES, TYPE_NAMES, Event

MAX_REASON = 300
"""Reasons travel in dead-letter headers and terminal lines: keep them short."""
_MAX_ERRORS = 8
_validate_json = EVENT_ADAPTER.validator.validate_json
"""The compiled validator itself: TypeAdapter.validate_json's Python wrapper costs as much as
the strict timestamp check it pays for, on every record."""

_EXPECTED = {
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "bool_type": "expected a boolean",
}


@dataclass(frozen=True, slots=True)
class Poison:
    """A record that is not a valid event, with a short human-readable reason."""

    reason: str


def decode(raw: bytes | None) -> Event | Poison:
    """Validate one record value; never raises, so one bad record cannot stop a consumer."""
    if raw is None:
        return Poison("empty record")
    if len(raw) > MAX_RECORD_BYTES:  # decided before parsing: a huge value costs nothing more
        return Poison(f"record of {len(raw)} bytes is over the {MAX_RECORD_BYTES}-byte limit")
    try:
        event: Event = _validate_json(raw)
        return event
    except ValidationError as exc:
        return Poison(_clip(_explain(raw, exc)))
    except Exception as exc:  # a validator bug must not kill the projector
        return Poison(_clip(f"cannot decode: {type(exc).__name__}: {exc}"))


def _explain(raw: bytes, exc: ValidationError) -> str:
    if not raw.strip():
        return "empty record"
    errors = exc.errors(include_url=False)
    if errors[0]["type"] == "json_invalid":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"invalid UTF-8 at byte {bad.start}"
        return f"invalid JSON: {errors[0].get('ctx', {}).get('error', errors[0]['msg'])}"
    reasons = [_describe(error) for error in errors[:_MAX_ERRORS]]
    if len(errors) > _MAX_ERRORS:
        reasons.append(f"and {len(errors) - _MAX_ERRORS} more errors")
    return "; ".join(reasons)


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "dict_type" and not loc:
        return "event must be a JSON object"
    if kind == "union_tag_not_found":
        return f"unknown type: missing field 'type' (expected one of {', '.join(TYPE_NAMES)})"
    if kind == "union_tag_invalid":
        given = _tag(error["input"])
        if not isinstance(given, str):
            return f"unknown type: field 'type' must be a string, got {_json_kind(given)}"
        return f"unknown type {given!r} (expected one of {', '.join(TYPE_NAMES)})"
    if loc and loc[0] in TYPE_NAMES:
        loc = loc[1:]  # the union tag pydantic puts first says nothing the event does not
    name = _field(loc)
    if kind == "missing":
        return f"missing field {name}"
    if kind in _EXPECTED:
        return f"field {name}: {_EXPECTED[kind]}, got {_json_kind(error['input'])}"
    if kind == "value_error":
        ctx = error.get("ctx", {})
        return f"field {name}: {ctx.get('error', error['msg'])}"
    if kind == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        return f"field {name}: must not be empty"
    if kind == "string_too_long":
        return f"field {name}: longer than {error.get('ctx', {}).get('max_length')} characters"
    if kind == "too_long":
        return f"field {name}: more than {error.get('ctx', {}).get('max_length')} entries"
    message = error["msg"].replace("Input should be ", "must be ", 1)
    return f"field {name}: {message[:1].lower()}{message[1:]}"


def _field(loc: tuple[int | str, ...]) -> str:
    """`('tag_ids', 2)` -> `'tag_ids[2]'`, the way a reader of the JSON would point at it."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return repr(text.lstrip(".") or "(event)")


def _tag(event: Any) -> Any:
    return event.get("type") if isinstance(event, dict) else None


def _json_kind(value: Any) -> str:
    """Name a value the way the producer wrote it: JSON types, not Python ones."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _clip(reason: str) -> str:
    """One line, at most MAX_REASON characters, whatever the producer put in its strings."""
    line = " ".join(reason.split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"
