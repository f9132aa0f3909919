"""The statistics of one request: which cells to read, and how they add up to rows.

Three read plans, chosen by the customer filters (docs/projection.md):

* no customer filter: the `*` slice's day/month/total blobs, counts and latest
  dates for every employee, summed with numpy;
* one customer filter: that slice's month logs (base + tail) for the counts, the
  months at the range's ends kept to the days inside it;
  the latest dates of the rows on the page from the latest non-zero cell, then
  the facts of the few customers that can hold it (api/latest.py);
* several filters, or sorting by a date under a filter: the customers in every
  filter's set, and their facts, summed exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from api.latest import SliceCells, latest_holders
from api.params import StatisticsQuery
from api.reader import ProjectionReader
from api.rows import Employee, employees_of, format_latest, matches, order_employees, row_of
from api.tally import Tally, add_blob, add_month_log, latest_second, tally_facts
from projector import customer as customer_fold
from projector.calendar import LocalCalendar, split_range
from projector.codec import COUNTER, LATEST, MAX_SLOTS, max_slot
from projector.facts import KINDS, slice_name
from projector.layout import Layout

FILTERS = ("industry_id", "source_id", "progress_id", "tag_id")
DATE_FIELDS = ("customer_last_date", "follow_last_date")


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int


STAFF_CACHE_SIZE = 256


class StatisticsEngine:
    def __init__(self, reader: ProjectionReader, calendar: LocalCalendar) -> None:
        self.reader = reader
        self.calendar = calendar
        self._staff: OrderedDict[tuple[str, int], tuple[tuple[Any, ...], list[Employee]]] = (
            OrderedDict()
        )

    async def staff(self, layout: Layout, tenant_id: int) -> list[Employee]:
        """The tenant's employees, re-read only when its staff token changed."""
        token = await self.reader.staff_token(layout, tenant_id)
        key = (layout.prefix, tenant_id)
        cached = self._staff.get(key)
        if cached is not None and cached[0] == token:
            self._staff.move_to_end(key)
            return cached[1]
        index, profiles = await self.reader.employees(layout, tenant_id)
        staff = employees_of(index, profiles)
        self._staff[key] = (token, staff)
        if len(self._staff) > STAFF_CACHE_SIZE:
            self._staff.popitem(last=False)
        return staff

    async def page(
        self,
        layout: Layout,
        tenant_id: int,
        query: StatisticsQuery,
        *,
        opportunity: bool,
    ) -> Page:
        staff = await self.staff(layout, tenant_id)
        size = max((employee.position for employee in staff), default=-1) + 1
        chosen = [employee for employee in staff if matches(employee, query)]
        filters = [
            slice_name(dimension, value)
            for dimension in FILTERS
            if (value := getattr(query, dimension)) is not None
        ]
        days = None
        if query.date is not None:
            days = (self.calendar.day_of(query.date[0]), self.calendar.day_of(query.date[1]))
        by_facts = len(filters) > 1 or (len(filters) == 1 and query.order_by in DATE_FIELDS)
        cells: SliceCells | None = None
        if by_facts:
            tally = await self._tally_by_facts(layout, tenant_id, filters, days, chosen, size)
        elif filters:
            if days is None:
                days_or_all = await self.reader.tenant_days(layout, tenant_id)
            else:
                days_or_all = days
            tally, cells = await self._tally_slice(layout, tenant_id, filters[0], days_or_all, size)
        else:
            tally = await self._tally_all(layout, tenant_id, days, size)
        ordered = order_employees(chosen, tally, query.order_by, query.order == "desc")
        start = (query.page - 1) * query.per_page
        page_employees = ordered[start : start + query.per_page]
        page_rows = [
            row_of(employee, tally, self.calendar, opportunity) for employee in page_employees
        ]
        if cells is not None and page_rows:
            await self._latest_for_rows(
                layout, tenant_id, filters[0], days, cells, page_employees, page_rows
            )
        return Page(page_rows, len(chosen))

    async def _tally_all(
        self, layout: Layout, tenant_id: int, days: tuple[int, int] | None, size: int
    ) -> Tally:
        if days is None:
            counts_keys = [layout.total(tenant_id)]
            max_keys = [layout.total_max(tenant_id)]
        else:
            loose, months = split_range(days[0], days[1], self.calendar)
            counts_keys = [layout.day(tenant_id, day) for day in loose]
            counts_keys += [layout.month(tenant_id, month) for month in months]
            max_keys = [layout.day_max(tenant_id, day) for day in loose]
            max_keys += [layout.month_max(tenant_id, month) for month in months]
        blobs = await self.reader.blobs(counts_keys + max_keys)
        tally = Tally.zeros(size)
        for blob in blobs[: len(counts_keys)]:
            add_blob(tally.counts, blob, COUNTER, KINDS)
        for blob in blobs[len(counts_keys) :]:
            add_blob(tally.latest, blob, LATEST, MAX_SLOTS)
        tally.keep_present_latest()
        return tally

    async def _tally_slice(
        self, layout: Layout, tenant_id: int, slice_: str, days: tuple[int, int] | None, size: int
    ) -> tuple[Tally, SliceCells]:
        """Counts only (latest dates are the page's, later); the cells are kept for them."""
        tally = Tally.zeros(size)
        if days is None:
            return tally, SliceCells({})
        months = list(range(self.calendar.month(days[0]), self.calendar.month(days[1]) + 1))
        keys = [
            key
            for month in months
            for key in (
                layout.log(tenant_id, slice_, month),
                layout.log_tail(tenant_id, slice_, month),
            )
        ]
        blobs = await self.reader.blobs(keys)
        cells = {
            month: add_month_log(
                tally.counts, base, tail, days, self.calendar.first_day_of_month(month)
            )
            for month, base, tail in zip(months, blobs[0::2], blobs[1::2], strict=True)
        }
        return tally, SliceCells(cells)

    async def _states(
        self, layout: Layout, tenant_id: int, members: Iterable[bytes]
    ) -> list[customer_fold.CustomerState]:
        keys = [layout.customer(tenant_id, int(member)) for member in members]
        return [customer_fold.loads(raw) for raw in await self.reader.customer_states(keys)]

    async def _tally_by_facts(
        self,
        layout: Layout,
        tenant_id: int,
        filters: Sequence[str],
        days: tuple[int, int] | None,
        chosen: Sequence[Employee],
        size: int,
    ) -> Tally:
        keys = [layout.slice_members(tenant_id, slice_) for slice_ in filters]
        (members,) = await self.reader.intersections([keys])
        positions = {employee.employee_id: employee.position for employee in chosen}
        tally = Tally.zeros(size)
        tally_facts(
            await self._states(layout, tenant_id, members), positions, days, self.calendar, tally
        )
        return tally

    async def _latest_for_rows(
        self,
        layout: Layout,
        tenant_id: int,
        slice_: str,
        days: tuple[int, int] | None,
        cells: SliceCells,
        employees: Sequence[Employee],
        rows: list[dict[str, Any]],
    ) -> None:
        """Fill the page rows' latest dates from the few customers that can hold them. A kind
        with no fact in range keeps the '-' its row was built with."""
        holders = await latest_holders(
            self.reader,
            layout,
            tenant_id,
            slice_,
            cells,
            [(employee.employee_id, employee.position) for employee in employees],
        )
        customers = sorted(set().union(*(s for per_kind in holders for s in per_kind.values())))
        keys = [layout.customer(tenant_id, int(member)) for member in customers]
        raws = await self.reader.customer_states(keys)
        facts = {
            member: customer_fold.loads_facts(raw)
            for member, raw in zip(customers, raws, strict=True)
        }
        for employee, row, per_kind in zip(employees, rows, holders, strict=True):
            for kind, members in per_kind.items():
                latest = latest_second(
                    (facts[member] for member in members),
                    employee.employee_id,
                    kind,
                    days,
                    self.calendar,
                )
                row[DATE_FIELDS[max_slot(kind)]] = format_latest(self.calendar, latest)
