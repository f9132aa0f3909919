"""Employee profiles: the latest `employee-upserted` is what a row shows, in any arrival order."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from projector.employee import Profile, apply_profile, dumps_profile, loads_profile
from tests.contract import NOON, Raw, employee_event, profile


def fold(raws: Sequence[Raw]) -> Profile:
    held = Profile()
    for raw in raws:
        held = apply_profile(held, employee_event(raw)) or held
    return held


def shown(held: Profile) -> tuple[str, tuple[int, ...], str | None, str | None]:
    """What a statistics row shows of the profile."""
    return (held.name, held.department_ids, held.userid, held.avatar_mediaid)


PROFILE_CASES: list[tuple[str, list[Raw], str]] = [
    ("single", [profile("e1", NOON, name="韦小宝")], "韦小宝"),
    (
        "later-wins",
        [profile("e1", NOON, name="old"), profile("e2", NOON + 1, name="new")],
        "new",
    ),
    (
        "equal-instant-e9-beats-e10",
        [profile("e10", NOON, name="ten"), profile("e9", NOON, name="nine")],
        "nine",
    ),
    (
        "equal-instant-across-offsets",
        [
            profile("b", "2023-03-01T12:00:00+08:00", name="b"),
            profile("a", "2023-03-01T04:00:00+00:00", name="a"),
        ],
        "b",
    ),
    (
        "sub-second-later-beats-greater-id",
        [
            profile("z", "2023-03-01T12:00:00+08:00", name="z"),
            profile("a", "2023-03-01T12:00:00.001+08:00", name="a"),
        ],
        "a",
    ),
    (
        "three-profiles",
        [
            profile("e1", NOON + 5, name="middle"),
            profile("e2", NOON + 9, name="latest"),
            profile("e3", NOON, name="first"),
        ],
        "latest",
    ),
]


@pytest.mark.parametrize(
    ("raws", "name"), [case[1:] for case in PROFILE_CASES], ids=[case[0] for case in PROFILE_CASES]
)
def test_the_latest_profile_wins_in_every_arrival_order(raws: list[Raw], name: str) -> None:
    for order in itertools.permutations(raws):
        assert fold(order).name == name


def test_the_whole_profile_comes_from_one_event() -> None:
    held = fold(
        [
            profile("e1", NOON, name="Alice", departments=[1], userid="wx", avatar="m-1"),
            profile("e2", NOON + 1, name="Alice Wong"),
        ]
    )
    assert shown(held) == ("Alice Wong", (), None, None)


def test_before_any_profile_the_row_shows_the_spec_defaults() -> None:
    assert shown(Profile()) == ("", (), None, None)


@pytest.mark.parametrize(
    ("departments", "expected"),
    [([30, 10, 30], (10, 30)), ([], ()), ([7], (7,))],
    ids=["duplicates-and-order", "none", "one"],
)
def test_department_ids_are_a_set(departments: list[int], expected: tuple[int, ...]) -> None:
    assert fold([profile("e1", NOON, departments=departments)]).department_ids == expected


@pytest.mark.parametrize(
    "raw",
    [
        profile("e1", NOON, name="old"),
        profile("e0", NOON - 1, name="older"),
        profile("e0", NOON, name="same-instant-smaller-id"),
    ],
    ids=["re-delivery", "older", "same-instant-smaller-id"],
)
def test_a_profile_not_newer_than_the_held_one_is_refused(raw: Raw) -> None:
    held = fold([profile("e1", NOON, name="held")])
    assert apply_profile(held, employee_event(raw)) is None


@pytest.mark.parametrize(
    "held",
    [
        Profile(),
        fold([profile("e1", NOON, name="谢梓杰", departments=[2, 1], userid="u-1", avatar="m")]),
        fold([profile("e9", "2023-03-01T12:00:00.5+08:00", name="", userid=None)]),
    ],
    ids=["default", "full", "empty-name-sub-second"],
)
def test_profile_round_trip(held: Profile) -> None:
    loaded = loads_profile(dumps_profile(held))
    assert loaded == held
    # The version survives too: the same re-delivery is still refused after a reload.
    later = employee_event(profile("e1", NOON, name="x"))
    assert (apply_profile(loaded, later) is None) == (apply_profile(held, later) is None)


@pytest.mark.parametrize("raw", [None, b""], ids=["absent", "empty"])
def test_no_stored_profile_is_the_default(raw: bytes | None) -> None:
    assert loads_profile(raw) == Profile()
