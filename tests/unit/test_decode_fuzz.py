"""100,000 malformed records through decode(): each is poison with a one-line reason, none raises,
and the valid events interleaved with them decode to exactly what was sent (issue 10)."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from events.decode import MAX_REASON, Poison, decode
from events.schema import Event
from tests.malformed import encode, malformed_record, valid_event

MALFORMED = 100_000
VALID_EVERY = 10  # one valid event after every ten malformed records
SEED = 20_261_201


def sent_fields(event: Event) -> dict[str, Any]:
    """What the decoded event holds, in the names and units the producer used."""
    return event.model_dump(exclude={"occurred_at", "schema_version"}, exclude_unset=True)


def expected_fields(event: dict[str, Any]) -> dict[str, Any]:
    skipped = {"occurred_at", "schema_version", "source", "trace", "nested"}
    return {key: value for key, value in event.items() if key not in skipped}


def test_a_hundred_thousand_malformed_records_are_poison_and_valid_events_unchanged() -> None:
    rng = random.Random(SEED)
    started = time.perf_counter()
    reasons: Counter[str] = Counter()
    valid = 0
    for number in range(MALFORMED):
        record = malformed_record(rng)
        result = decode(record)
        assert isinstance(result, Poison), (number, record[:500], result)
        reason = result.reason
        assert 0 < len(reason) <= MAX_REASON, (number, reason)
        assert reason == " ".join(reason.split()), (number, reason)  # one line, no control chars
        reasons[reason.split(":")[0].split(" (")[0][:30]] += 1
        if number % VALID_EVERY == 0:
            event, micros = valid_event(rng)
            decoded = decode(encode(event))
            assert not isinstance(decoded, Poison), (event, decoded)
            assert decoded.occurred_at == micros, (event, decoded)
            assert decoded.schema_version == event.get("schema_version", 1)
            assert sent_fields(decoded) == expected_fields(event), event
            valid += 1
    elapsed = time.perf_counter() - started
    print(f"\n{MALFORMED} malformed + {valid} valid records in {elapsed:.1f} s")
    assert valid == MALFORMED // VALID_EVERY
    for kind in ("invalid JSON", "invalid UTF-8 at byte 0", "record of", "unknown type", "empty"):
        assert any(name.startswith(kind) for name in reasons), (kind, reasons)
    for field in ("tenant_id", "occurred_at", "event_id", "tag_ids", "name", "customer_id"):
        assert reasons[f"field '{field}'"] > 100, (field, reasons)
