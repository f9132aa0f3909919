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

from events.schema import EVENT_ADAPTER, MAX_SECONDS, TYPE_NAMES

SCHEMA_ID = "urn:custstats:customer-events"
SCHEMA_FILE = Path(__file__).with_name("customer-events.schema.json")

TITLE = "custstats customer events"
DESCRIPTION = (
    "One record value on the Kafka topic `customer-events` (configurable): a UTF-8 JSON object. "
    'Record key: "{tenant_id}:{customer_id}"; for employee-upserted '
    '"{tenant_id}:employee:{employee_id}", so that all events of one customer (or employee) '
    "land in one partition. Unknown extra fields are ignored. An event that is not valid JSON, "
    "misses a field, has a wrong type, an unknown `type` or a bad timestamp is poison: it goes to "
    "the dead-letter topic `<topic>.dlq` with the reason and is never projected. Integers are "
    "written without a fraction or exponent (1, not 1.0). Results never depend on the order in "
    "which events arrive or on how often one is delivered."
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
    "tenant_id": "The business / 公众号 id (> 0), as in the statistics URL.",
    "occurred_at": (
        "When it happened: an RFC 3339 string with offset (2023-03-30T14:41:18+08:00, uppercase "
        "Z for UTC) or integer unix seconds; a timestamp without offset is invalid. Between "
        "1970-01-01 and 2106-02-07. The latest occurred_at (then the greater event_id) wins."
    ),
    "schema_version": "Version of this event's shape, for future upcasting; default 1.",
    "employee_id": "The employee (员工) the event is about.",
    "customer_id": "The customer the event is about.",
    "name": "The employee's display name.",
    "department_ids": "The departments the employee belongs to.",
    "userid": "The employee's WeCom user id, or null.",
    "avatar_mediaid": "Media id of the employee's avatar, or null.",
    "industry_id": "The customer's industry, or null for none.",
    "source_id": "Where the customer came from, or null for none.",
    "progress_id": "The customer's sales progress stage, or null for none.",
    "tag_ids": "The customer's tags (the whole set, not a change).",
    "opportunity_id": "The sales opportunity (商机).",
}

# occurred_at as events.schema.parse_occurred_at accepts it, for validators that do not check
# `format` (most do not by default). Years outside 1970-2106 are refused here too, which catches
# the 0001-01-01 / 9999-12-31 placeholders some producers send; the exact bounds (2106-02-07,
# offsets around 1970-01-01) and impossible dates like 02-30 only the projector checks.
RFC3339_WITH_OFFSET = (
    r"^(19[7-9][0-9]|20[0-9]{2}|210[0-6])-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def event_json_schema(event_type: str | None = None) -> dict[str, Any]:
    """The schema of every event (`oneOf` the six types), or of one type when given."""
    generated = EVENT_ADAPTER.json_schema()
    defs = {
        _type_name(body): _document(_type_name(body), body) for body in generated["$defs"].values()
    }
    if event_type is not None:
        if event_type not in defs:
            raise ValueError(f"unknown type {event_type!r}; one of {', '.join(TYPE_NAMES)}")
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
    if field == "occurred_at":
        string, seconds = spec["anyOf"]
        spec["anyOf"] = [
            {**string, "pattern": RFC3339_WITH_OFFSET},
            {**seconds, "maximum": MAX_SECONDS},
        ]
    return {"description": description, **spec}
