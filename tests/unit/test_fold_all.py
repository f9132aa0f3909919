"""State v3 is canonical: `fold_all` and `apply` in any order, duplicates included, agree, and
`dumps` writes the same bytes for the same set of events."""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.schema import EmployeeUpserted
from projector.customer import CustomerState, apply, dumps, fold_all, loads, loads_facts
from tests.harness import parsed
from tests.strategies import deliveries, event_lists


def _by_customer(events: list[Any]) -> dict[tuple[int, int], list[Any]]:
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for event in events:
        if not isinstance(event, EmployeeUpserted):
            grouped[(event.tenant_id, event.customer_id)].append(event)
    return grouped


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fold_all_equals_apply_in_any_order_with_duplicates(data: st.DataObject) -> None:
    bodies = data.draw(event_lists())
    delivered = [event for partition in data.draw(deliveries(bodies)) for event in partition]
    direct = _by_customer(parsed(bodies))
    for key, events in _by_customer(parsed(delivered)).items():
        folded = CustomerState()
        for event in events:
            apply(folded, event)
        once = fold_all(direct[key])
        assert once == folded
        assert dumps(once) == dumps(folded)
        assert loads(dumps(folded)) == folded
        flat = loads_facts(dumps(folded))
        assert {tuple(flat[at : at + 3]): flat[at + 3] for at in range(0, len(flat), 4)} == dict(
            folded.facts
        )


def test_a_v2_state_is_read_and_written_back_canonical() -> None:
    v2 = orjson.dumps(
        {
            "v": 2,
            "t": [[1_700_000_001_000_000, "e2"], [1_700_000_000_000_000, "e1"]],
            "a": [["i", 5, 0], ["t", [7, 8], 1]],
            "r": [[3, 1, -1]],
            "f": [3, 0, 1_700_000_000, 1, 3, 2, 1_700_000_000, 1, 3, 3, 1_700_000_001, 2],
            "s": base64.b64encode(b"\x01" * 7 + bytes(7) + b"\x00" + b"\x01" * 6).decode(),
        }
    )
    state = loads(v2)
    assert bytes(state.seen) == bytes(7) + b"\x00" + b"\x01" * 6 + b"\x01" * 7
    again = loads(dumps(state))
    assert again == state
    assert loads_facts(v2) == [
        3,
        0,
        1_700_000_000,
        1,
        3,
        2,
        1_700_000_000,
        1,
        3,
        3,
        1_700_000_001,
        2,
    ]
    assert orjson.loads(dumps(state))[0] == 3
