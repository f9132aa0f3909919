"""Local days and months in the display zone, as small integers that name projection buckets.

Days are counted from 1970-01-01 in the zone's calendar; months as year * 12 + month - 1.
UTC offsets are whole quarter hours in every zone and change only on quarter-hour
instants, so the offset is cached per 15-minute window of UTC: the hot path costs a
dict lookup instead of a zoneinfo conversion.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_QUARTER = 900


class LocalCalendar:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._offsets: dict[int, int] = {}
        self._months: dict[int, int] = {}
        self._days: dict[int, int] = {}
        """Quarter-hour window of UTC -> local day: with a quarter-hour offset, local midnights
        fall on window edges, so a window is all one day."""

    def _offset(self, second: int) -> int:
        window = second // _QUARTER
        offset = self._offsets.get(window)
        if offset is None:
            moment = datetime.fromtimestamp(window * _QUARTER, UTC).astimezone(self.zone)
            delta = moment.utcoffset() or timedelta(0)
            offset = self._offsets[window] = int(delta.total_seconds())
        return offset

    def day(self, second: int) -> int:
        """The local day number of a unix second."""
        window = second // _QUARTER
        day = self._days.get(window)
        if day is None:
            offset = self._offset(second)
            if offset % _QUARTER:  # an odd historical offset: midnight inside a window
                return (second + offset) // 86400
            day = self._days[window] = (window * _QUARTER + offset) // 86400
        return day

    def days(self, seconds: NDArray[np.int64]) -> NDArray[np.int64]:
        """`day` of many seconds at once: one lookup per distinct quarter hour."""
        windows, at = np.unique(seconds // _QUARTER, return_inverse=True)
        offsets = [self._offset(window * _QUARTER) for window in windows.tolist()]
        if any(offset % _QUARTER for offset in offsets):
            return np.array([self.day(second) for second in seconds.tolist()], dtype=np.int64)
        local = windows * _QUARTER + np.array(offsets, dtype=np.int64)
        days: NDArray[np.int64] = (local // 86400)[at.reshape(-1)]
        return days

    def months(self, days: NDArray[np.int64]) -> NDArray[np.int64]:
        """`month` of many days at once."""
        distinct, at = np.unique(days, return_inverse=True)
        months = np.array([self.month(day) for day in distinct.tolist()], dtype=np.int64)
        found: NDArray[np.int64] = months[at.reshape(-1)]
        return found

    def month(self, day: int) -> int:
        month = self._months.get(day)
        if month is None:
            local = date.fromordinal(day + _EPOCH_ORDINAL)
            month = self._months[day] = local.year * 12 + local.month - 1
        return month

    @staticmethod
    def day_of(local: date) -> int:
        return local.toordinal() - _EPOCH_ORDINAL

    @staticmethod
    def date_of(day: int) -> date:
        return date.fromordinal(day + _EPOCH_ORDINAL)

    @staticmethod
    def first_day_of_month(month: int) -> int:
        return date(month // 12, month % 12 + 1, 1).toordinal() - _EPOCH_ORDINAL

    def format(self, second: int) -> str:
        """SPEC's display form, 'YYYY-MM-DD HH:MM:SS' in the zone."""
        return datetime.fromtimestamp(second + self._offset(second), UTC).strftime(
            "%Y-%m-%d %H:%M:%S"
        )


def split_range(
    first_day: int, last_day: int, calendar: LocalCalendar
) -> tuple[list[int], list[int]]:
    """Cover [first_day, last_day] with whole months plus the loose days at both ends."""
    days: list[int] = []
    months: list[int] = []
    day = first_day
    while day <= last_day:
        month = calendar.month(day)
        start = calendar.first_day_of_month(month)
        following = calendar.first_day_of_month(month + 1)
        if day == start and following - 1 <= last_day:
            months.append(month)
            day = following
        else:
            end = min(following - 1, last_day)
            days.extend(range(day, end + 1))
            day = end + 1
    return days, months
