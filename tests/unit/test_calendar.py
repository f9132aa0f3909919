"""Local days and months: which bucket an instant lands in, and how a date range is covered."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.schema import MAX_SECONDS
from projector.calendar import LocalCalendar, split_range

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = {
    name: LocalCalendar(ZoneInfo(name))
    for name in (
        "Asia/Shanghai",
        "America/New_York",
        "Europe/Berlin",
        "UTC",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/St_Johns",
    )
}
"""Whole, half, quarter-hour offsets and half-hour DST shifts; shared so caches are reused."""


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def day(local: date) -> int:
    return LocalCalendar.day_of(local)


BOUNDARIES: list[tuple[str, ZoneInfo, str, str]] = [
    ("shanghai-last-second", SHANGHAI, "2023-03-01T15:59:59Z", "2023-03-01 23:59:59"),
    ("shanghai-midnight", SHANGHAI, "2023-03-01T16:00:00Z", "2023-03-02 00:00:00"),
    ("shanghai-utc-midnight", SHANGHAI, "2023-03-02T00:00:00Z", "2023-03-02 08:00:00"),
    ("new-york-before-23h-day", NEW_YORK, "2023-03-12T04:59:59Z", "2023-03-11 23:59:59"),
    ("new-york-23h-day-starts", NEW_YORK, "2023-03-12T05:00:00Z", "2023-03-12 00:00:00"),
    ("new-york-before-spring-forward", NEW_YORK, "2023-03-12T06:59:59Z", "2023-03-12 01:59:59"),
    ("new-york-spring-forward", NEW_YORK, "2023-03-12T07:00:00Z", "2023-03-12 03:00:00"),
    ("new-york-23h-day-ends", NEW_YORK, "2023-03-13T03:59:59Z", "2023-03-12 23:59:59"),
    ("new-york-after-23h-day", NEW_YORK, "2023-03-13T04:00:00Z", "2023-03-13 00:00:00"),
    ("new-york-25h-day-starts", NEW_YORK, "2023-11-05T04:00:00Z", "2023-11-05 00:00:00"),
    ("new-york-first-1-59", NEW_YORK, "2023-11-05T05:59:59Z", "2023-11-05 01:59:59"),
    ("new-york-second-1-00", NEW_YORK, "2023-11-05T06:00:00Z", "2023-11-05 01:00:00"),
    ("new-york-25h-day-ends", NEW_YORK, "2023-11-06T04:59:59Z", "2023-11-05 23:59:59"),
    ("new-york-after-25h-day", NEW_YORK, "2023-11-06T05:00:00Z", "2023-11-06 00:00:00"),
    ("berlin-23h-day-starts", BERLIN, "2023-03-25T23:00:00Z", "2023-03-26 00:00:00"),
    ("berlin-spring-forward", BERLIN, "2023-03-26T01:00:00Z", "2023-03-26 03:00:00"),
    ("berlin-23h-day-ends", BERLIN, "2023-03-26T21:59:59Z", "2023-03-26 23:59:59"),
    ("berlin-after-23h-day", BERLIN, "2023-03-26T22:00:00Z", "2023-03-27 00:00:00"),
    ("berlin-25h-day-starts", BERLIN, "2023-10-28T22:00:00Z", "2023-10-29 00:00:00"),
    ("berlin-fall-back", BERLIN, "2023-10-29T01:00:00Z", "2023-10-29 02:00:00"),
    ("berlin-25h-day-ends", BERLIN, "2023-10-29T22:59:59Z", "2023-10-29 23:59:59"),
    ("berlin-after-25h-day", BERLIN, "2023-10-29T23:00:00Z", "2023-10-30 00:00:00"),
    ("lord-howe-before-half-hour-shift", LORD_HOWE, "2023-09-30T15:29:59Z", "2023-10-01 01:59:59"),
    (
        "lord-howe-half-hour-shift-at-half-past-utc",
        LORD_HOWE,
        "2023-09-30T15:30:00Z",
        "2023-10-01 02:30:00",
    ),
]
"""(id, zone, instant in UTC, local wall clock): the local day is the wall clock's date."""


@pytest.mark.parametrize(
    ("zone", "instant", "shown"),
    [case[1:] for case in BOUNDARIES],
    ids=[case[0] for case in BOUNDARIES],
)
def test_an_instant_lands_on_its_local_day_and_shows_its_wall_clock(
    zone: ZoneInfo, instant: str, shown: str
) -> None:
    calendar = LocalCalendar(zone)
    second = utc(instant)
    assert calendar.day(second) == day(date.fromisoformat(shown[:10]))
    assert calendar.format(second) == shown


@pytest.mark.parametrize(
    ("zone", "local_day", "hours"),
    [
        (SHANGHAI, date(2023, 3, 12), 24),
        (NEW_YORK, date(2023, 3, 12), 23),
        (NEW_YORK, date(2023, 11, 5), 25),
        (BERLIN, date(2023, 3, 26), 23),
        (BERLIN, date(2023, 10, 29), 25),
    ],
    ids=["shanghai-24h", "new-york-23h", "new-york-25h", "berlin-23h", "berlin-25h"],
)
def test_a_local_day_holds_exactly_its_hours(zone: ZoneInfo, local_day: date, hours: int) -> None:
    calendar = LocalCalendar(zone)
    around = int(datetime(local_day.year, local_day.month, local_day.day, tzinfo=UTC).timestamp())
    seconds = range(around - 86400, around + 2 * 86400)
    assert sum(1 for second in seconds if calendar.day(second) == day(local_day)) == hours * 3600


@pytest.mark.parametrize(
    ("local_day", "month"),
    [
        (date(1970, 1, 1), 1970 * 12),
        (date(2023, 3, 15), 2023 * 12 + 2),
        (date(2023, 12, 31), 2023 * 12 + 11),
        (date(2024, 1, 1), 2024 * 12),
        (date(2024, 2, 29), 2024 * 12 + 1),
    ],
    ids=["epoch", "mid-march", "new-years-eve", "new-year", "leap-day"],
)
def test_month_numbers(local_day: date, month: int) -> None:
    calendar = LocalCalendar(SHANGHAI)
    assert calendar.month(day(local_day)) == month
    assert calendar.first_day_of_month(month) == day(local_day.replace(day=1))
    assert LocalCalendar.date_of(day(local_day)) == local_day


def test_the_month_after_december_is_january_of_the_next_year() -> None:
    assert LocalCalendar.first_day_of_month(2023 * 12 + 12) == day(date(2024, 1, 1))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(ZONES)), st.integers(0, MAX_SECONDS))
def test_day_and_format_agree_with_zoneinfo_for_any_instant(name: str, second: int) -> None:
    calendar = ZONES[name]
    local = datetime.fromtimestamp(second, calendar.zone)
    assert calendar.day(second) == day(local.date())
    assert calendar.format(second) == local.strftime("%Y-%m-%d %H:%M:%S")


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([*sorted(ZONES), "Africa/Monrovia"]),
    st.lists(st.integers(0, MAX_SECONDS), min_size=1, max_size=40),
)
def test_days_and_months_of_many_instants_agree_with_one_at_a_time(
    name: str, seconds: list[int]
) -> None:
    """The projector buckets a whole batch at once (`days`, `months`): same answers as `day`."""
    calendar = ZONES[name] if name in ZONES else LocalCalendar(ZoneInfo(name))
    days = calendar.days(np.array(seconds, dtype=np.int64))
    assert days.tolist() == [calendar.day(second) for second in seconds]
    assert calendar.months(days).tolist() == [calendar.month(d) for d in days.tolist()]


def test_days_of_a_batch_across_an_odd_offset_midnight() -> None:
    calendar = LocalCalendar(ZoneInfo("Africa/Monrovia"))
    midnight = int(datetime.fromisoformat("1971-03-02").replace(tzinfo=calendar.zone).timestamp())
    days = calendar.days(np.array([midnight - 1, midnight, midnight + 1], dtype=np.int64))
    assert days.tolist() == [day(date(1971, 3, 1)), day(date(1971, 3, 2)), day(date(1971, 3, 2))]


@pytest.mark.parametrize("local", ["1971-03-01 23:59:59", "1971-03-02 00:00:00"])
def test_a_zone_with_an_odd_historical_offset_changes_day_at_its_own_midnight(local: str) -> None:
    """Liberia kept UTC-0:44:30 until 1972: its midnight falls inside a UTC quarter hour."""
    calendar = LocalCalendar(ZoneInfo("Africa/Monrovia"))
    moment = datetime.fromisoformat(local).replace(tzinfo=calendar.zone)
    second = int(moment.timestamp())
    calendar.day(second - 1)  # the same quarter hour, seen first from the other day
    assert calendar.day(second) == day(moment.date())
    assert calendar.day(second - 1) == day((moment - timedelta(seconds=1)).date())


# --- split_range --------------------------------------------------------------------------------


def month_of(year: int, month: int) -> int:
    return year * 12 + month - 1


def days_between(first: date, last: date) -> list[int]:
    return list(range(day(first), day(last) + 1))


SPLITS: list[tuple[str, date, date, list[int], list[int]]] = [
    (
        "inside-a-month",
        date(2023, 3, 5),
        date(2023, 3, 20),
        days_between(date(2023, 3, 5), date(2023, 3, 20)),
        [],
    ),
    ("exactly-one-month", date(2023, 3, 1), date(2023, 3, 31), [], [month_of(2023, 3)]),
    ("single-day", date(2023, 3, 7), date(2023, 3, 7), [day(date(2023, 3, 7))], []),
    ("first-day-of-a-month", date(2023, 3, 1), date(2023, 3, 1), [day(date(2023, 3, 1))], []),
    (
        "month-missing-its-last-day",
        date(2023, 3, 1),
        date(2023, 3, 30),
        days_between(date(2023, 3, 1), date(2023, 3, 30)),
        [],
    ),
    (
        "month-then-loose-days",
        date(2023, 3, 1),
        date(2023, 4, 2),
        days_between(date(2023, 4, 1), date(2023, 4, 2)),
        [month_of(2023, 3)],
    ),
    (
        "loose-days-then-month",
        date(2023, 2, 27),
        date(2023, 3, 31),
        days_between(date(2023, 2, 27), date(2023, 2, 28)),
        [month_of(2023, 3)],
    ),
    (
        "across-years",
        date(2022, 12, 15),
        date(2024, 1, 10),
        days_between(date(2022, 12, 15), date(2022, 12, 31))
        + days_between(date(2024, 1, 1), date(2024, 1, 10)),
        [month_of(2023, m) for m in range(1, 13)],
    ),
    (
        "december-to-january",
        date(2022, 12, 1),
        date(2023, 1, 31),
        [],
        [month_of(2022, 12), month_of(2023, 1)],
    ),
    ("leap-february", date(2024, 2, 1), date(2024, 2, 29), [], [month_of(2024, 2)]),
    (
        "leap-february-without-29th",
        date(2024, 2, 1),
        date(2024, 2, 28),
        days_between(date(2024, 2, 1), date(2024, 2, 28)),
        [],
    ),
    ("common-february", date(2023, 2, 1), date(2023, 2, 28), [], [month_of(2023, 2)]),
    ("start-after-end", date(2023, 3, 2), date(2023, 3, 1), [], []),
]


@pytest.mark.parametrize(
    ("first", "last", "days", "months"),
    [case[1:] for case in SPLITS],
    ids=[case[0] for case in SPLITS],
)
def test_split_range(first: date, last: date, days: list[int], months: list[int]) -> None:
    assert split_range(day(first), day(last), LocalCalendar(SHANGHAI)) == (days, months)


@settings(max_examples=300, deadline=None)
@given(
    st.dates(date(1970, 1, 1), date(2199, 12, 31)),
    st.integers(0, 1200),
)
def test_split_range_covers_exactly_the_input_days(first: date, length: int) -> None:
    calendar = LocalCalendar(SHANGHAI)
    last = min(first + timedelta(days=length), date(2199, 12, 31))
    days, months = split_range(day(first), day(last), calendar)
    covered = list(days)
    for month in months:
        covered += range(calendar.first_day_of_month(month), calendar.first_day_of_month(month + 1))
    assert sorted(covered) == days_between(first, last)  # every day once: no gap, no overlap
    assert all(calendar.month(d) not in months for d in days)  # a loose day is never in a month
