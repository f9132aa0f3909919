"""fold_batch: one poll batch becomes merged writes; a customer's move carries its history along."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from events.schema import Event
from projector import customer as customer_fold
from projector.batch import Snapshot, fold_batch, read_request
from projector.calendar import LocalCalendar
from projector.cells import BatchWrites, CellProjection
from projector.codec import SLOT_MASK
from projector.employee import Profile, apply_profile, dumps_profile, loads_profile
from projector.facts import KINDS, Attributes, Kind
from projector.layout import Layout
from tests.cells_view import unpacked
from tests.contract import (
    NOON,
    TENANT,
    Raw,
    added,
    follow,
    lost,
    opportunity,
    profile,
    typed,
    updated,
)
from tests.strategies import SHANGHAI

LAYOUT = Layout("p", 1)
PROJECTION = CellProjection(LAYOUT, LocalCalendar(SHANGHAI))
INDEX = {3: 0, 10: 1}
CUSTOMER_KEY = LAYOUT.customer(TENANT, 1)


def snapshot_after(previous: BatchWrites | None = None) -> Snapshot:
    """What the store would read for customer 1 after `previous` was committed."""
    snapshot = Snapshot(index={TENANT: dict(INDEX)})
    if previous is not None:
        state = previous.values[CUSTOMER_KEY]
        snapshot.customers[(TENANT, 1)] = (state, state)
    else:
        snapshot.customers[(TENANT, 1)] = (None, None)
    return snapshot


def fold(raws: Sequence[Raw], snapshot: Snapshot | None = None) -> BatchWrites:
    events: list[Event] = [typed(raw) for raw in raws]
    return fold_batch(events, snapshot or snapshot_after(), PROJECTION)


def slice_cells(writes: Sequence[BatchWrites], slice_: str) -> Counter[tuple[str, Kind]]:
    """Net per-kind counts of one filter slice over batches: its month logs' records."""
    net: Counter[tuple[str, Kind]] = Counter()
    log_prefix = LAYOUT.log(TENANT, slice_, 0).rsplit(":", 1)[0] + ":"
    for batch in writes:
        for (key, code), delta in unpacked(batch).logs.items():
            if key.startswith(log_prefix):
                net[("log", Kind((code & SLOT_MASK) % KINDS))] += delta
    return Counter({cell: count for cell, count in net.items() if count})


def all_totals(writes: Sequence[BatchWrites]) -> Counter[Kind]:
    net: Counter[Kind] = Counter()
    for batch in writes:
        for (key, slot), delta in unpacked(batch).counters.items():
            if key == LAYOUT.total(TENANT):
                net[Kind(slot % KINDS)] += delta
    return Counter({kind: count for kind, count in net.items() if count})


HISTORY = [
    added("e1", NOON, industry=1, tags=[1, 2]),
    follow("e2", NOON + 60),
    follow("e3", NOON + 61, employee=10),
]
HISTORY_CELLS = Counter(
    {
        (place, kind): count
        for place in ("log",)
        for kind, count in ((Kind.ADDED, 1), (Kind.CURRENT, 1), (Kind.FOLLOW, 2))
    }
)


def test_a_move_inside_one_batch_leaves_the_history_in_the_new_slice_only() -> None:
    writes = fold([*HISTORY, updated("e4", NOON + 120, industry_id=2)])
    assert slice_cells([writes], "i1") == Counter()
    assert slice_cells([writes], "i2") == HISTORY_CELLS
    assert all_totals([writes]) == {Kind.ADDED: 1, Kind.CURRENT: 1, Kind.FOLLOW: 2}
    assert writes.members[(LAYOUT.slice_members(TENANT, "i1"), "1")] is False
    assert writes.members[(LAYOUT.slice_members(TENANT, "i2"), "1")] is True


def test_a_move_in_a_later_batch_takes_the_stored_history_from_old_to_new_slice() -> None:
    first = fold(HISTORY)
    second = fold([updated("e4", NOON + 120, industry_id=2)], snapshot_after(first))
    assert slice_cells([first], "i1") == HISTORY_CELLS
    assert slice_cells([second], "i1") == Counter({c: -n for c, n in HISTORY_CELLS.items()})
    assert slice_cells([second], "i2") == HISTORY_CELLS
    # The `*` slice and the latest dates are the same whatever the customer's attributes.
    assert all_totals([second]) == Counter()
    assert unpacked(second).maxima == {}
    assert second.checks == {(CUSTOMER_KEY, ""): first.values[CUSTOMER_KEY]}
    stored = customer_fold.loads(second.values[CUSTOMER_KEY])
    assert stored.current() == Attributes(industry_id=2, tag_ids=(1, 2))


def test_a_tag_change_moves_only_the_tags_that_changed() -> None:
    first = fold(HISTORY)
    second = fold([updated("e4", NOON + 120, tag_ids=[3, 2])], snapshot_after(first))
    assert slice_cells([first, second], "t1") == Counter()
    assert slice_cells([first, second], "t3") == HISTORY_CELLS
    assert slice_cells([second], "t2") == Counter()
    assert slice_cells([first, second], "t2") == HISTORY_CELLS
    assert slice_cells([first, second], "i1") == HISTORY_CELLS


def test_a_loss_after_a_move_is_counted_in_the_new_slice() -> None:
    writes = fold([*HISTORY, updated("e4", NOON + 120, industry_id=2), lost("e5", NOON + 130)])
    expected = HISTORY_CELLS.copy()
    for place in ("log",):
        expected[(place, Kind.LOST)] += 1
        del expected[(place, Kind.CURRENT)]
    assert slice_cells([writes], "i2") == expected
    assert slice_cells([writes], "i1") == Counter()


def test_a_re_delivery_in_the_same_batch_counts_once() -> None:
    writes = fold([follow("f1", NOON), follow("f1", NOON), follow("f1", NOON)])
    assert all_totals([writes]) == {Kind.FOLLOW: 1}
    assert writes.hash_counters[(LAYOUT.meta(TENANT), "duplicates")] == 2
    assert writes.hash_counters[(LAYOUT.meta(TENANT), "events")] == 1


def test_a_re_delivery_in_a_later_batch_writes_no_state() -> None:
    first = fold([follow("f1", NOON)])
    again = fold([follow("f1", NOON)], snapshot_after(first))
    assert all_totals([again]) == Counter()
    assert CUSTOMER_KEY not in again.values
    assert again.checks == {}


def test_an_opportunity_turns_the_tenants_plugin_on() -> None:
    assert fold([opportunity("o1", NOON)]).hash_sets[(LAYOUT.meta(TENANT), "opportunity")] == b"1"
    assert (LAYOUT.meta(TENANT), "opportunity") not in fold([follow("f1", NOON)]).hash_sets


@pytest.mark.parametrize(
    ("stored", "batch", "written"),
    [
        (None, [profile("p1", NOON, name="a"), profile("p2", NOON + 1, name="b")], "b"),
        (None, [profile("p2", NOON + 1, name="b"), profile("p1", NOON, name="a")], "b"),
        (profile("p0", NOON + 5, name="stored"), [profile("p1", NOON, name="older")], None),
        (profile("p0", NOON - 5, name="stored"), [profile("p1", NOON, name="newer")], "newer"),
    ],
    ids=["latest-of-two", "latest-of-two-reversed", "older-than-stored", "newer-than-stored"],
)
def test_a_profile_is_written_only_when_newer_and_checked_against_what_was_read(
    stored: Raw | None, batch: list[Raw], written: str | None
) -> None:
    snapshot = Snapshot(index={TENANT: dict(INDEX)})
    held = None
    if stored is not None:
        event = typed(stored)
        assert event.type == "employee-upserted"
        profile_ = apply_profile(Profile(), event)
        assert profile_ is not None
        held = dumps_profile(profile_)
    snapshot.profiles[(TENANT, 3)] = held
    writes = fold(batch, snapshot)
    field = (LAYOUT.profiles(TENANT), "3")
    if written is None:
        assert field not in writes.hash_sets
        assert field not in writes.checks
    else:
        assert loads_profile(writes.hash_sets[field]).name == written
        assert writes.checks[field] == held


def test_read_request_names_every_state_the_batch_needs() -> None:
    events: list[Event] = [
        typed(raw)
        for raw in (
            profile("p1", NOON, employee=25),
            added("a1", NOON, employee=3, customer=7),
            updated("u1", NOON, customer=8),
            follow("f1", NOON, employee=10, customer=7, tenant_id=2),
        )
    ]
    request = read_request(events)
    assert request.customers == {(1, 7), (1, 8), (2, 7)}
    assert request.profiles == {(1, 25)}
    assert request.employees == {(1, 25), (1, 3), (2, 10)}


def test_a_customer_whose_attributes_are_all_cleared_still_counts_without_filter() -> None:
    writes = fold([*HISTORY, updated("e4", NOON + 120, industry_id=None, tag_ids=[])])
    assert slice_cells([writes], "i1") == Counter()
    assert writes.members[(LAYOUT.slice_members(TENANT, "t1"), "1")] is False
    assert all_totals([writes]) == {Kind.ADDED: 1, Kind.CURRENT: 1, Kind.FOLLOW: 2}


def test_an_older_update_arriving_last_loses_to_a_newer_one_with_the_same_value() -> None:
    batches = [
        [added("e1", NOON, industry=1)],
        [updated("e2", NOON + 100, industry_id=1)],
        [updated("e3", NOON + 50, industry_id=2)],
    ]
    written: list[BatchWrites] = []
    for batch in batches:
        stored = [w for w in written if CUSTOMER_KEY in w.values]
        written.append(fold(batch, snapshot_after(stored[-1] if stored else None)))
    assert slice_cells(written, "i2") == Counter()
    assert slice_cells(written, "i1")[("log", Kind.ADDED)] == 1


# --- the employee-month customer sets (`em`) that bound the latest dates under a filter ------

MARCH = 2023 * 12 + 2
APRIL = MARCH + 1
LAST_SECOND_OF_MARCH = 1_680_278_399
"""2023-03-31 23:59:59 in Asia/Shanghai: still March there, though 15:59:59 UTC."""


def month_sets(writes: BatchWrites) -> dict[str, set[str]]:
    """The em sets a batch adds customers to (it never removes any)."""
    prefix = LAYOUT.employee_month_customers(TENANT, 0, 0).rsplit(":em:", 1)[0] + ":em:"
    added_to: dict[str, set[str]] = {}
    for (key, member), present in writes.members.items():
        if key.startswith(prefix):
            assert present, key
            added_to.setdefault(key, set()).add(member)
    return added_to


def test_adds_and_follows_put_the_customer_in_the_employees_set_of_their_local_month() -> None:
    writes = fold(
        [
            added("a1", NOON, industry=1),  # 2023-03-01, employee 3
            follow("f1", LAST_SECOND_OF_MARCH, employee=10),
            follow("f2", LAST_SECOND_OF_MARCH + 1),  # 2023-04-01 00:00:00 local
        ]
    )
    assert month_sets(writes) == {
        LAYOUT.employee_month_customers(TENANT, 3, MARCH): {"1"},
        LAYOUT.employee_month_customers(TENANT, 10, MARCH): {"1"},
        LAYOUT.employee_month_customers(TENANT, 3, APRIL): {"1"},
    }


def test_losses_opportunities_and_re_deliveries_add_no_em_member() -> None:
    first = fold([added("a1", NOON)])
    writes = fold(
        [lost("l1", NOON + 60), opportunity("o1", NOON + 120), added("a1", NOON)],
        snapshot_after(first),
    )
    assert month_sets(writes) == {}


def test_a_move_between_slices_leaves_the_em_sets_alone() -> None:
    first = fold(HISTORY)
    moved = fold([updated("e4", NOON + 120, industry_id=2, tag_ids=[])], snapshot_after(first))
    assert month_sets(first) == {
        LAYOUT.employee_month_customers(TENANT, 3, MARCH): {"1"},
        LAYOUT.employee_month_customers(TENANT, 10, MARCH): {"1"},
    }
    assert month_sets(moved) == {}
