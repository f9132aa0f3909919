"""The customer fold, rule by rule of SPEC §2: attributes, relationships, facts, duplicates."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from projector.customer import CustomerState, apply, dumps, has_digest, loads, loads_facts
from projector.errors import CorruptState
from projector.facts import ALL, Attributes, Fact, Kind, slices_of
from tests.contract import (
    EMPLOYEE,
    NOON,
    Raw,
    added,
    customer_event,
    follow,
    lost,
    opportunity,
    updated,
)


def fold(raws: Sequence[Raw]) -> CustomerState:
    state = CustomerState()
    for raw in raws:
        apply(state, customer_event(raw))
    return state


def every_order(raws: Sequence[Raw]) -> list[CustomerState]:
    """The final state of each arrival order of the events."""
    return [fold(order) for order in itertools.permutations(raws)]


# --- attributes: last writer wins, per attribute ---------------------------------------------

LWW_CASES: list[tuple[str, list[Raw], Attributes]] = [
    (
        "later-update-wins",
        [added("e1", NOON, industry=1), updated("e2", NOON + 60, industry_id=2)],
        Attributes(industry_id=2),
    ),
    (
        "older-update-loses",
        [added("e1", NOON + 60, industry=1), updated("e2", NOON, industry_id=2)],
        Attributes(industry_id=1),
    ),
    (
        "equal-instant-e9-beats-e10",
        [updated("e10", NOON, industry_id=1), updated("e9", NOON, industry_id=2)],
        Attributes(industry_id=2),
    ),
    (
        "equal-instant-e10-loses-to-e9",
        [updated("e9", NOON, industry_id=1), updated("e10", NOON, industry_id=2)],
        Attributes(industry_id=1),
    ),
    (
        "equal-instant-written-at-two-offsets",
        [
            updated("e10", "2023-03-01T12:00:00+08:00", source_id=1),
            updated("e9", "2023-03-01T04:00:00Z", source_id=2),
        ],
        Attributes(source_id=2),
    ),
    (
        "equal-instant-int-seconds-and-rfc3339",
        [
            updated("b", NOON, progress_id=1),
            updated("a", "2023-03-01T12:00:00+08:00", progress_id=2),
        ],
        Attributes(progress_id=1),
    ),
    (
        "one-microsecond-later-beats-greater-id",
        [
            updated("e9", "2023-03-01T12:00:00+08:00", industry_id=1),
            updated("e10", "2023-03-01T12:00:00.000001+08:00", industry_id=2),
        ],
        Attributes(industry_id=2),
    ),
    (
        "each-attribute-has-its-own-latest",
        [
            added("e1", NOON, industry=1, source=1, progress=1, tags=[1]),
            updated("e2", NOON + 10, industry_id=2),
            updated("e3", NOON - 10, source_id=2),
            updated("e4", NOON + 20, tag_ids=[5]),
        ],
        Attributes(industry_id=2, source_id=1, progress_id=1, tag_ids=(5,)),
    ),
    (
        "later-add-replaces-every-attribute",
        [updated("e1", NOON, industry_id=5, tag_ids=[1]), added("e2", NOON + 1)],
        Attributes(),
    ),
    (
        "update-of-a-never-added-customer",
        [updated("e1", NOON, progress_id=4)],
        Attributes(progress_id=4),
    ),
]


@pytest.mark.parametrize(
    ("raws", "expected"), [case[1:] for case in LWW_CASES], ids=[case[0] for case in LWW_CASES]
)
def test_each_attribute_is_the_latest_writers_value_in_every_arrival_order(
    raws: list[Raw], expected: Attributes
) -> None:
    for state in every_order(raws):
        assert state.current() == expected


UPDATE_CASES: list[tuple[str, dict[str, Any], Attributes]] = [
    ("no-keys-keeps-all", {}, Attributes(1, 2, 3, (4, 5))),
    ("explicit-null-industry", {"industry_id": None}, Attributes(None, 2, 3, (4, 5))),
    ("explicit-null-source", {"source_id": None}, Attributes(1, None, 3, (4, 5))),
    ("explicit-null-progress", {"progress_id": None}, Attributes(1, 2, None, (4, 5))),
    ("empty-tags", {"tag_ids": []}, Attributes(1, 2, 3, ())),
    ("one-key-replaced", {"source_id": 7}, Attributes(1, 7, 3, (4, 5))),
    (
        "all-nulled",
        {"industry_id": None, "source_id": None, "progress_id": None, "tag_ids": []},
        Attributes(),
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [case[1:] for case in UPDATE_CASES],
    ids=[case[0] for case in UPDATE_CASES],
)
def test_update_replaces_present_keys_and_keeps_absent_ones(
    changes: dict[str, Any], expected: Attributes
) -> None:
    state = fold(
        [
            added("e1", NOON, industry=1, source=2, progress=3, tags=[4, 5]),
            updated("e2", NOON + 1, **changes),
        ]
    )
    assert state.current() == expected


@pytest.mark.parametrize(
    ("attributes", "slices"),
    [
        (Attributes(), {ALL}),
        (Attributes(1, 2, 3, (4, 5)), {ALL, "i1", "s2", "p3", "t4", "t5"}),
        (Attributes(None, 2, None, ()), {ALL, "s2"}),
        (Attributes(tag_ids=(9,)), {ALL, "t9"}),
    ],
    ids=["no-attributes", "all-attributes", "source-only", "tag-only"],
)
def test_a_customer_is_counted_in_the_slice_of_every_attribute_it_has(
    attributes: Attributes, slices: set[str]
) -> None:
    assert slices_of(attributes) == slices


def test_an_explicit_null_takes_the_customer_out_of_that_filter() -> None:
    state = fold(
        [added("e1", NOON, industry=1, source=2), updated("e2", NOON + 1, industry_id=None)]
    )
    assert slices_of(state.current()) == {ALL, "s2"}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [([3, 1, 3, 2], (1, 2, 3)), ([5, 5], (5,)), ([], ()), ([9, 8], (8, 9))],
    ids=["duplicates-and-order", "only-duplicates", "empty", "reversed"],
)
@pytest.mark.parametrize("via", ["added", "updated"])
def test_tag_ids_are_a_set(via: str, tags: list[int], expected: tuple[int, ...]) -> None:
    raw = added("e1", NOON, tags=tags) if via == "added" else updated("e1", NOON, tag_ids=tags)
    state = fold([raw])
    assert state.current().tag_ids == expected
    assert slices_of(state.current()) == {ALL, *(f"t{tag}" for tag in expected)}


# --- relationships: active = the latest of add / lost is an add ------------------------------


def counted(raws: Sequence[Raw]) -> Counter[Fact]:
    """The ADDED / LOST / FOLLOW / OPPORTUNITY facts of the events, one per event."""
    kinds = {
        "customer-added": Kind.ADDED,
        "customer-lost": Kind.LOST,
        "follow-recorded": Kind.FOLLOW,
        "opportunity-created": Kind.OPPORTUNITY,
    }
    facts: Counter[Fact] = Counter()
    for raw in raws:
        event = customer_event(raw)
        if raw["type"] in kinds:
            facts[Fact(raw["employee_id"], kinds[raw["type"]], event.occurred_at // 10**6)] += 1
    return facts


def current(employee: int, second: int) -> Fact:
    return Fact(employee, Kind.CURRENT, second)


RELATIONSHIP_CASES: list[tuple[str, list[Raw], list[Fact]]] = [
    ("added", [added("e1", NOON)], [current(EMPLOYEE, NOON)]),
    ("added-then-lost", [added("e1", NOON), lost("e2", NOON + 60)], []),
    ("lost-then-added", [lost("e1", NOON), added("e2", NOON + 60)], [current(EMPLOYEE, NOON + 60)]),
    (
        "added-lost-re-added",
        [added("e1", NOON), lost("e2", NOON + 60), added("e3", NOON + 120)],
        [current(EMPLOYEE, NOON + 120)],
    ),
    (
        "re-added-then-an-older-loss",
        [added("e1", NOON), added("e2", NOON + 120), lost("e3", NOON + 60)],
        [current(EMPLOYEE, NOON + 120)],
    ),
    (
        "two-adds-count-once-at-the-latest",
        [added("e1", NOON), added("e2", NOON + 3600)],
        [current(EMPLOYEE, NOON + 3600)],
    ),
    ("same-instant-lost-e9-beats-added-e10", [added("e10", NOON), lost("e9", NOON)], []),
    (
        "same-instant-added-e9-beats-lost-e10",
        [added("e9", NOON), lost("e10", NOON)],
        [current(EMPLOYEE, NOON)],
    ),
    (
        "sub-second-add-after-loss",
        [added("a", "2023-03-01T12:00:00.5+08:00"), lost("b", "2023-03-01T12:00:00.2+08:00")],
        [current(EMPLOYEE, NOON)],
    ),
    (
        "sub-second-loss-after-add",
        [added("b", "2023-03-01T12:00:00.2+08:00"), lost("a", "2023-03-01T12:00:00.5+08:00")],
        [],
    ),
    ("only-lost", [lost("e1", NOON)], []),
    (
        "two-employees-one-lost",
        [
            added("e1", NOON, employee=3),
            added("e2", NOON + 1, employee=10),
            lost("e3", NOON + 2, employee=3),
        ],
        [current(10, NOON + 1)],
    ),
    (
        "follows-and-opportunities-do-not-change-activity",
        [
            added("e1", NOON),
            follow("e2", NOON + 5),
            opportunity("e3", NOON + 6),
            lost("e4", NOON + 7),
        ],
        [],
    ),
]


@pytest.mark.parametrize(
    ("raws", "currents"),
    [case[1:] for case in RELATIONSHIP_CASES],
    ids=[case[0] for case in RELATIONSHIP_CASES],
)
def test_facts_and_attributes_are_the_same_in_every_arrival_order(
    raws: list[Raw], currents: list[Fact]
) -> None:
    expected = counted(raws) + Counter(currents)
    states = every_order(raws)
    for state in states:
        assert Counter(state.facts) == expected
        assert state.current() == states[0].current()


def test_the_current_fact_sits_at_the_whole_second_of_the_latest_add() -> None:
    state = fold(
        [added("e1", "2023-03-01T23:59:59.999999+08:00"), added("e0", "2023-03-01T12:00:00+08:00")]
    )
    currents = [fact for fact in state.facts if fact[1] == Kind.CURRENT]
    assert currents == [current(EMPLOYEE, 1_677_686_399)]  # 2023-03-01 23:59:59 in Shanghai


# --- what one event reports -------------------------------------------------------------------

CHANGE_CASES: list[tuple[str, list[Raw], Raw, dict[Fact, int], set[str], set[str], int | None]] = [
    (
        "first-add-moves-into-its-slices",
        [],
        added("e1", NOON, industry=1),
        {Fact(EMPLOYEE, Kind.ADDED, NOON): 1, current(EMPLOYEE, NOON): 1},
        {ALL},
        {ALL, "i1"},
        EMPLOYEE,
    ),
    (
        "follow",
        [added("e1", NOON, industry=1)],
        follow("e2", NOON + 1),
        {Fact(EMPLOYEE, Kind.FOLLOW, NOON + 1): 1},
        {ALL, "i1"},
        {ALL, "i1"},
        EMPLOYEE,
    ),
    (
        "loss-ends-the-current-fact",
        [added("e1", NOON)],
        lost("e2", NOON + 1),
        {Fact(EMPLOYEE, Kind.LOST, NOON + 1): 1, current(EMPLOYEE, NOON): -1},
        {ALL},
        {ALL},
        EMPLOYEE,
    ),
    (
        "older-loss-is-only-counted",
        [added("e1", NOON)],
        lost("e2", NOON - 1),
        {Fact(EMPLOYEE, Kind.LOST, NOON - 1): 1},
        {ALL},
        {ALL},
        EMPLOYEE,
    ),
    (
        "re-add-moves-the-current-fact",
        [added("e1", NOON)],
        added("e2", NOON + 9),
        {
            Fact(EMPLOYEE, Kind.ADDED, NOON + 9): 1,
            current(EMPLOYEE, NOON): -1,
            current(EMPLOYEE, NOON + 9): 1,
        },
        {ALL},
        {ALL},
        EMPLOYEE,
    ),
    (
        "update-moves-between-slices",
        [added("e1", NOON, industry=1)],
        updated("e2", NOON + 1, industry_id=2),
        {},
        {ALL, "i1"},
        {ALL, "i2"},
        None,
    ),
    (
        "opportunity",
        [],
        opportunity("e1", NOON, employee=10),
        {Fact(10, Kind.OPPORTUNITY, NOON): 1},
        {ALL},
        {ALL},
        10,
    ),
]


@pytest.mark.parametrize(
    ("history", "raw", "facts", "before", "after", "employee"),
    [case[1:] for case in CHANGE_CASES],
    ids=[case[0] for case in CHANGE_CASES],
)
def test_an_event_reports_its_fact_delta_and_slice_move(
    history: list[Raw],
    raw: Raw,
    facts: dict[Fact, int],
    before: set[str],
    after: set[str],
    employee: int | None,
) -> None:
    change = apply(fold(history), customer_event(raw))
    assert change is not None
    assert change.facts == facts
    assert (change.slices_before, change.slices_after) == (frozenset(before), frozenset(after))
    assert change.moved == (before != after)
    assert change.employee_id == employee


# --- re-deliveries ----------------------------------------------------------------------------

HISTORY = [
    added("h1", NOON - 100, industry=1, tags=[2]),
    follow("h2", NOON - 50),
    lost("h3", NOON - 40, employee=10),
]
REDELIVERED = {
    "added": added("r1", NOON, industry=2, tags=[3]),
    "updated": updated("r1", NOON, source_id=4),
    "lost": lost("r1", NOON),
    "follow": follow("r1", NOON),
    "opportunity": opportunity("r1", NOON),
}


@pytest.mark.parametrize("history", [[], HISTORY], ids=["fresh", "with-history"])
@pytest.mark.parametrize("raw", REDELIVERED.values(), ids=REDELIVERED.keys())
def test_a_re_delivery_returns_none_and_changes_nothing(history: list[Raw], raw: Raw) -> None:
    state = fold(history)
    assert apply(state, customer_event(raw)) is not None
    held = dumps(state)
    assert apply(state, customer_event(raw)) is None
    assert dumps(state) == held


def test_a_re_delivery_after_other_events_counts_once() -> None:
    once = fold([follow("f1", NOON), follow("f2", NOON + 1)])
    again = fold([follow("f1", NOON), follow("f2", NOON + 1), follow("f1", NOON)])
    assert (
        again.facts
        == once.facts
        == {Fact(EMPLOYEE, Kind.FOLLOW, NOON): 1, Fact(EMPLOYEE, Kind.FOLLOW, NOON + 1): 1}
    )


def test_an_update_that_changes_state_is_never_reported_as_nothing() -> None:
    state = fold([added("e1", NOON, industry=1)])
    held = dumps(state)
    change = apply(state, customer_event(updated("e2", NOON + 100, industry_id=1)))
    assert change is not None or dumps(state) == held


def test_a_digest_is_seen_only_where_a_stored_digest_starts() -> None:
    """Digests are packed end to end: a match straddling two of them is not a re-delivery."""
    zeros = bytes(7)
    one_then_zeros = b"\x01" + bytes(6)
    zeros_then_two = bytes(6) + b"\x02"
    assert not has_digest(one_then_zeros + zeros_then_two, zeros)  # 12 zeros, never aligned
    assert has_digest(one_then_zeros + zeros, zeros)  # misaligned first, then aligned
    assert has_digest(one_then_zeros + zeros_then_two, zeros_then_two)
    assert not has_digest(b"", zeros)


# --- persisted form ---------------------------------------------------------------------------

RICH = [
    added("e1", "2023-03-01T12:00:00.25+08:00", industry=1, source=None, progress=3, tags=[7, 2]),
    updated("e2", NOON + 5, source_id=9, industry_id=None),
    lost("e3", NOON + 10, employee=10),
    added("e4", NOON + 20, employee=25),
    lost("e5", NOON + 30, employee=25),
    follow("e6", NOON + 40),
    opportunity("e7", NOON + 50, employee=222),
]


def test_loads_facts_reads_only_the_facts_of_a_stored_state() -> None:
    state = fold(RICH)
    flat = loads_facts(dumps(state))
    facts = dict(zip(zip(flat[0::4], flat[1::4], flat[2::4], strict=True), flat[3::4], strict=True))
    assert facts == state.facts
    assert loads_facts(None) == []
    with pytest.raises(CorruptState, match="format"):
        loads_facts(b'{"v": 1, "f": []}')


def test_dumps_loads_round_trip_keeps_every_part_of_the_state() -> None:
    state = fold(RICH)
    assert loads(dumps(state)) == state
    assert dumps(loads(dumps(state))) == dumps(state)


@pytest.mark.parametrize(
    "raw",
    [*RICH, lost("n1", NOON + 100, employee=25), added("n2", NOON + 1)],
    ids=lambda raw: f"{raw['type']}-{raw['event_id']}",
)
def test_a_loaded_state_folds_on_exactly_like_the_original(raw: Raw) -> None:
    original = fold(RICH)
    loaded = loads(dumps(original))
    assert apply(loaded, customer_event(raw)) == apply(original, customer_event(raw))
    assert loaded == original


@pytest.mark.parametrize("raw", [None, b""], ids=["absent", "empty"])
def test_no_stored_state_is_a_fresh_customer(raw: bytes | None) -> None:
    assert loads(raw) == CustomerState()


@pytest.mark.parametrize(
    "version", [0, 1, 2, 4, None, "3"], ids=["v0", "v1", "v2", "v4", "null", "string"]
)
def test_loads_refuses_another_format_version(version: object) -> None:
    data = orjson.loads(dumps(fold(RICH)))
    data[0] = version
    with pytest.raises(CorruptState, match="format"):
        loads(orjson.dumps(data))
    if version != 2:  # a v2 state is still read
        with pytest.raises(CorruptState, match="format"):
            loads(orjson.dumps({"v": version, "f": []}))
