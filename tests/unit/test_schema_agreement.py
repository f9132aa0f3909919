"""The published JSON Schema and decode() agree on thousands of generated valid and invalid events
(issue 10 finding 9: upstream teams test against the schema, the projector decides)."""

from __future__ import annotations

import json
import random

from events.decode import Poison, decode
from tests.malformed import encode, malformed_event, valid_event
from tests.unit.test_jsonschema import VALIDATOR, agree

EVENTS = 4_000
SEED = 1_000_003


def test_generated_valid_events_pass_both() -> None:
    rng = random.Random(SEED)
    for _ in range(EVENTS):
        event, micros = valid_event(rng)
        decoded = decode(encode(event))
        assert not isinstance(decoded, Poison), (event, decoded)
        assert decoded.occurred_at == micros
        assert VALIDATOR.is_valid(json.loads(encode(event))), event


def test_generated_events_with_one_rule_broken_fail_both() -> None:
    rng = random.Random(SEED + 1)
    beyond = 0
    for _ in range(EVENTS // 2):
        event = malformed_event(rng)
        assert isinstance(decode(encode(event)), Poison), event
        beyond += agree(event)
    assert beyond < EVENTS // 100, "only what a pattern cannot say passes the schema"
