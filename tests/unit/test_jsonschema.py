"""The JSON Schema given to upstream teams: fresh, valid, and in agreement with decode()."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from custstats import schema_cmd
from custstats.settings import Settings
from events.decode import Poison, decode
from events.errors import EventsError
from events.jsonschema import SCHEMA_FILE, event_json_schema
from tests.unit.test_decode import ADDED, COMMON, EMPLOYEE, LOST, VALID

REGENERATE = ".venv/bin/custstats schema --write events/customer-events.schema.json"
VALIDATOR = Draft202012Validator(event_json_schema())


def test_committed_schema_file_is_fresh() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == event_json_schema(), f"{SCHEMA_FILE.name} is stale; run: {REGENERATE}"


def test_schema_is_a_valid_2020_12_schema_with_one_branch_per_type() -> None:
    schema = event_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert len(schema["oneOf"]) == 6
    assert '"{tenant_id}:{customer_id}"' in schema["description"]
    assert '"{tenant_id}:employee:{employee_id}"' in schema["description"]
    for body in schema["$defs"].values():
        assert body["description"]
        assert all(field["description"] for field in body["properties"].values())


@pytest.mark.parametrize(("record", "kind", "seconds"), VALID)
def test_valid_examples_validate(record: bytes, kind: type, seconds: int) -> None:
    VALIDATOR.validate(json.loads(record))


@pytest.mark.parametrize(
    "changes",
    [
        {"tenant_id": 2**63 - 1},
        {"occurred_at": "2024-06-01t02:00:00z"},
        {"occurred_at": "2016-12-31T23:59:60Z"},
        {"occurred_at": 2**32 - 1},
        {"name": "韦" * 255, "department_ids": list(range(100)), "userid": "u" * 255},
    ],
)
def test_values_at_the_limits_validate(changes: dict[str, Any]) -> None:
    event = {**COMMON, **EMPLOYEE, **changes}
    VALIDATOR.validate(event)
    assert not isinstance(decode(json.dumps(event).encode()), Poison)


def without(event: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key != field}


POISON: list[tuple[str, Any]] = [
    ("not an object", [1, 2]),
    ("missing customer_id", without({**COMMON, **LOST}, "customer_id")),
    ("missing type", without({**COMMON, **LOST}, "type")),
    ("missing industry_id on add", without({**COMMON, **ADDED}, "industry_id")),
    ("missing userid", without({**COMMON, **EMPLOYEE}, "userid")),
    ("tenant_id as string", {**COMMON, **LOST, "tenant_id": "25"}),
    ("tenant_id as bool", {**COMMON, **LOST, "tenant_id": True}),
    ("tenant_id zero", {**COMMON, **LOST, "tenant_id": 0}),
    ("customer_id fractional", {**COMMON, **LOST, "customer_id": 1.5}),
    ("customer_id beyond int64", {**COMMON, **LOST, "customer_id": 2**63}),
    ("tag as string", {**COMMON, **ADDED, "tag_ids": [1, "2"]}),
    (
        "tag_ids null on update",
        {**COMMON, "type": "customer-updated", "customer_id": 1, "tag_ids": None},
    ),
    ("unknown type", {**COMMON, **LOST, "type": "customer-deleted"}),
    ("type not a string", {**COMMON, **LOST, "type": 3}),
    ("empty event_id", {**COMMON, **LOST, "event_id": ""}),
    ("event_id too long", {**COMMON, **LOST, "event_id": "x" * 129}),
    ("no offset", {**COMMON, **LOST, "occurred_at": "2023-03-30T14:41:18"}),
    ("not a timestamp", {**COMMON, **LOST, "occurred_at": "yesterday"}),
    ("placeholder date", {**COMMON, **LOST, "occurred_at": "0001-01-01T00:00:00Z"}),
    ("negative seconds", {**COMMON, **LOST, "occurred_at": -1}),
    ("seconds beyond 2106", {**COMMON, **LOST, "occurred_at": 2**32}),
    ("fractional seconds number", {**COMMON, **LOST, "occurred_at": 1.5}),
    ("schema_version as string", {**COMMON, **LOST, "schema_version": "1"}),
    ("tenant 2^63", {**COMMON, **LOST, "tenant_id": 2**63}),
    ("tenant 2^64", {**COMMON, **LOST, "tenant_id": 2**64}),
    ("customer_id 2^64", {**COMMON, **LOST, "customer_id": 2**64}),
    ("tag beyond int64", {**COMMON, **ADDED, "tag_ids": [1, 2**63]}),
    ("101 tags", {**COMMON, **ADDED, "tag_ids": list(range(101))}),
    ("101 departments", {**COMMON, **EMPLOYEE, "department_ids": list(range(101))}),
    ("name of 256", {**COMMON, **EMPLOYEE, "name": "韦" * 256}),
    ("userid of 256", {**COMMON, **EMPLOYEE, "userid": "u" * 256}),
    ("avatar of 256", {**COMMON, **EMPLOYEE, "avatar_mediaid": "m" * 256}),
    ("no seconds", {**COMMON, **LOST, "occurred_at": "2024-06-01T10:00+08:00"}),
    ("offset +0800", {**COMMON, **LOST, "occurred_at": "2024-06-01T10:00:00+0800"}),
    ("offset +08", {**COMMON, **LOST, "occurred_at": "2024-06-01T10:00:00+08"}),
    ("week date", {**COMMON, **LOST, "occurred_at": "2024-W22-6T10:00:00Z"}),
    ("basic format", {**COMMON, **LOST, "occurred_at": "20240601T100000Z"}),
    ("space separator", {**COMMON, **LOST, "occurred_at": "2024-06-01 10:00:00Z"}),
    ("offset +24:00", {**COMMON, **LOST, "occurred_at": "2024-06-01T10:00:00+24:00"}),
    ("offset +08:60", {**COMMON, **LOST, "occurred_at": "2024-06-01T10:00:00+08:60"}),
]


@pytest.mark.parametrize(("label", "event"), POISON, ids=[label for label, _ in POISON])
def test_poison_examples_fail_the_schema_and_decode(label: str, event: Any) -> None:
    assert not VALIDATOR.is_valid(event), label
    assert isinstance(decode(json.dumps(event).encode()), Poison), label


def test_one_type_schema_accepts_only_that_type() -> None:
    only_added = Draft202012Validator(event_json_schema("customer-added"))
    assert only_added.is_valid({**COMMON, **ADDED})
    assert not only_added.is_valid({**COMMON, **LOST})
    with pytest.raises(EventsError, match="unknown type"):
        event_json_schema("customer-deleted")
    with pytest.raises(ValueError, match="unknown type"):  # what callers caught before
        event_json_schema("customer-deleted")


def test_customer_updated_documents_that_absent_keys_keep_their_value() -> None:
    updated = event_json_schema()["$defs"]["customer-updated"]
    assert updated["required"] == ["type", "event_id", "tenant_id", "occurred_at", "customer_id"]
    assert "default" not in updated["properties"]["industry_id"]
    assert "unchanged" in updated["properties"]["tag_ids"]["description"]


EDGE_VALUES: list[Any] = [
    None, True, 0, 1, -1, 1.5, 2**32 - 2, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63),
    -(2**63) - 1, "", "x", "x" * 128, "x" * 129, "韦" * 255, "韦" * 256, "1", [], [1], [1, None],
    ["1"], [True], [2**63 - 1, -(2**63)], [2**63], list(range(100)), list(range(101)), {},
    "2023-03-30T14:41:18+08:00", "2023-03-30T14:41:18Z", "2023-03-30t14:41:18z",
    "2023-03-30T14:41:18", "2023-03-30T14:41:18+0800", "2023-03-30T14:41+08:00",
    "2023-03-30T14:41:18+08", "2023-03-30 14:41:18Z", "2023-W13-4T14:41:18Z", "20230330T144118Z",
    "2023-03-30T14:41:18+24:00", "2016-12-31T23:59:60Z", "2016-12-31T12:59:60Z",
    "2023-02-29T00:00:00Z", "1969-12-31T23:59:59Z", "1969-12-31T19:00:00-05:00",
    "2106-02-07T06:28:15Z", "2106-02-07T06:28:16Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
]  # fmt: skip
TEMPLATES = [EMPLOYEE, ADDED, LOST, {"type": "customer-updated", "customer_id": 1}]
FIELDS = [*COMMON, *EMPLOYEE, *ADDED, "schema_version", "opportunity_id"]

BEYOND_A_PATTERN = (
    "field 'occurred_at': not a date",
    "field 'occurred_at': out of range",
    "field 'occurred_at': second 60 is only a leap second",
)
"""What the schema cannot say and its description states instead: a day the month does not
have, the exact 1970 / 2106 instants of a string (the pattern allows the years 1969 … 2106),
where a leap second may fall. A record over 64 KiB is beyond any JSON Schema as well."""


def agree(event: Any) -> bool:
    """The schema and decode() accept exactly the same events, but for BEYOND_A_PATTERN.

    Returns whether the schema accepted the event."""
    data = json.dumps(event, ensure_ascii=False).encode()
    decoded = decode(data)
    if not VALIDATOR.is_valid(event):
        assert isinstance(decoded, Poison), (event, decoded)
        return False
    if isinstance(decoded, Poison):
        beyond = decoded.reason.startswith(BEYOND_A_PATTERN) and isinstance(
            event.get("occurred_at"), str
        )
        oversized = decoded.reason.endswith("-byte limit")
        assert beyond or oversized, (event, decoded)
        assert "; " not in decoded.reason, (event, decoded)
    return True


def test_schema_and_decode_agree_on_every_edge_value_of_every_field() -> None:
    """Upstream teams test against the schema: it must accept exactly what the projector does."""
    for template in TEMPLATES:
        base = {**COMMON, **template}
        for field in FIELDS:
            agree(without(base, field))
            for value in EDGE_VALUES:
                agree({**base, field: value})


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
    | st.text(max_size=12)
    | st.sampled_from(EDGE_VALUES),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)


@given(
    st.sampled_from([*TEMPLATES, {**LOST, "type": "x"}]),
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=3),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)
def test_schema_and_decode_agree_on_combinations(
    template: dict[str, Any], changes: dict[str, Any], dropped: set[str]
) -> None:
    event = {**COMMON, **template, **changes}
    agree({k: v for k, v in event.items() if k not in dropped})


def test_schema_command_prints_and_writes_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    schema_cmd.configure(parser)
    assert schema_cmd.run(parser.parse_args(["--type", "customer-lost"]), Settings()) == 0
    assert json.loads(capsys.readouterr().out) == event_json_schema("customer-lost")

    target = tmp_path / "events.schema.json"
    assert schema_cmd.run(parser.parse_args(["--write", str(target)]), Settings()) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == event_json_schema()
    assert target.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")

    missing = tmp_path / "no" / "such" / "dir.json"
    assert schema_cmd.run(parser.parse_args(["--write", str(missing)]), Settings()) == 2
    assert "cannot write" in capsys.readouterr().err
