"""The JSON Schema upstream teams validate their events against, generated from events.schema.

Generated rather than hand-written so it cannot drift from what the projector
accepts; the wording of SPEC §1 is added here because upstream developers read
the schema, not our code. A field without a description is an error, so a new
field cannot ship undocumented.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.errors import UnknownEventType
from events.schema import EVENT_ADAPTER, TYPE_NAMES

SCHEMA_ID = "urn:custstats:customer-events"
SCHEMA_FILE = Path(__file__).with_name("customer-events.schema.json")

TITLE = "custstats customer events"
DESCRIPTION = (
    "One record value on the Kafka topic `customer-events` (configurable): a UTF-8 JSON object. "
    'Record key: "{tenant_id}:{customer_id}"; for employee-upserted '
    '"{tenant_id}:employee:{employee_id}", so that all events of one customer (or employee) '
    "land in one partition. Unknown extra fields are ignored. An event that is not valid JSON, "
    "misses a field, has a wrong type, an unknown `type`, a bad timestamp or breaks a limit is "
    "poison: it goes to the dead-letter topic `<topic>.dlq` with the reason and is never "
    "projected. Limits: a record value of at most 64 KiB (65,536 bytes of UTF-8), JSON nested at "
    "most 200 levels deep, no NaN or Infinity. Integers are written without a fraction or "
    "exponent (1, not 1.0) and every id fits a signed 64-bit integer. Results never depend on "
    "the order in which events arrive or on how often one is delivered."
)

TYPE_DESCRIPTIONS = {
    "employee-upserted": "Employee profile (员工); the one with the latest occurred_at wins.",
    "customer-added": (
        "The customer became this employee's customer (新增客户); also sets the customer's "
        "attributes."
    ),
    "customer-updated": (
        "The customer's attributes changed: keys present replace the current value, keys absent "
        "keep it."
    ),
    "customer-lost": "The customer left this employee (流失客户).",
    "follow-recorded": "The employee wrote a follow-up record (跟进记录).",
    "opportunity-created": "A sales opportunity (商机) was created.",
}

FIELD_DESCRIPTIONS = {
    "event_id": "Unique per event, 1-128 characters; a re-delivered event_id changes nothing.",
    "type": "The event type; decides which other fields the event has.",
    "tenant_id": "The business / 公众号 id (1 … 2^63-1), as in the statistics URL.",
    "occurred_at": (
        "When it happened: an RFC 3339 date-time with offset (2023-03-30T14:41:18+08:00, "
        "2023-03-30T06:41:18.25Z; seconds required, T and Z in either case, offsets up to "
        "±23:59) or integer unix seconds. A timestamp without offset or in another ISO 8601 "
        "spelling (+0800, 10:00+08:00, week or ordinal dates, basic format) is invalid, as is "
        "a day the month does not have. Between 1970-01-01T00:00:00Z and 2106-02-07T06:28:15Z "
        "inclusive. Fractions beyond microseconds are truncated; a leap second 23:59:60 UTC "
        "counts as 23:59:59.999999. The latest occurred_at (then the greater event_id) wins."
    ),
    "schema_version": "Version of this event's shape, for future upcasting; default 1.",
    "employee_id": "The employee (员工) the event is about.",
    "customer_id": "The customer the event is about.",
    "name": "The employee's display name, at most 255 characters.",
    "department_ids": "The departments the employee belongs to, at most 100 entries.",
    "userid": "The employee's WeCom user id (at most 255 characters), or null.",
    "avatar_mediaid": "Media id of the employee's avatar (at most 255 characters), or null.",
    "industry_id": "The customer's industry, or null for none.",
    "source_id": "Where the customer came from, or null for none.",
    "progress_id": "The customer's sales progress stage, or null for none.",
    "tag_ids": "The customer's tags (the whole set, not a change), at most 100 entries.",
    "opportunity_id": "The sales opportunity (商机).",
}


def event_json_schema(event_type: str | None = None) -> dict[str, Any]:
    """The schema of every event (`oneOf` the six types), or of one type when given."""
    generated = EVENT_ADAPTER.json_schema()
    defs = {
        _type_name(body): _document(_type_name(body), body) for body in generated["$defs"].values()
    }
    if event_type is not None:
        if event_type not in defs:
            raise UnknownEventType(f"unknown type {event_type!r}; one of {', '.join(TYPE_NAMES)}")
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_ID}:{event_type}",
            **defs[event_type],
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": TITLE,
        "description": DESCRIPTION,
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(TYPE_NAMES)}},
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in TYPE_NAMES],
        "$defs": {name: defs[name] for name in TYPE_NAMES},
    }


def write_schema(path: Path | str = SCHEMA_FILE, event_type: str | None = None) -> None:
    """Write the schema as the committed file is written: 2-space JSON, UTF-8, final newline."""
    Path(path).write_text(render(event_type), encoding="utf-8")


def render(event_type: str | None = None) -> str:
    return json.dumps(event_json_schema(event_type), indent=2, ensure_ascii=False) + "\n"


def _type_name(body: dict[str, Any]) -> str:
    name: str = body["properties"]["type"]["const"]
    return name


def _document(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """One type's schema with SPEC wording; `type` first, as upstream developers write it."""
    properties = {"type": body["properties"]["type"]} | body["properties"]
    documented = {field: _field(name, field, spec) for field, spec in properties.items()}
    required = ["type", *(field for field in body["required"] if field != "type")]
    return {
        "title": name,
        "description": TYPE_DESCRIPTIONS[name],
        "type": "object",
        "properties": documented,
        "required": required,
    }


def _field(type_name: str, field: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {key: value for key, value in spec.items() if key != "title"}
    description = FIELD_DESCRIPTIONS[field]
    if type_name == "customer-updated" and field in ("industry_id", "source_id", "progress_id"):
        spec.pop("default", None)  # absent keeps the current value, it does not mean null
        description += " Absent = unchanged."
    if type_name == "customer-updated" and field == "tag_ids":
        spec.pop("default", None)
        description += " Absent = unchanged; [] clears the tags."
    return {"description": description, **spec}
