"""The answers SPEC §2/§3 demand for HTTP-style params, from the naive reference model."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.reference import reference_opportunity_plugin, reference_rows, reference_sorted

SHANGHAI = ZoneInfo("Asia/Shanghai")
Params = dict[str, Any]

REFERENCE_QUERIES: list[Params] = [
    {"per_page": 100},
    {"search": {"industry_id": 3}, "order_by": "follow_last_date", "order": "asc", "per_page": 100},
    {
        "search": {"date": ["2023-02-01", "2023-03-15"], "source_id": 2},
        "order_by": "customer_last_date",
        "per_page": 100,
    },
    {
        "search": {"tag_id": 5, "progress_id": 2},
        "order_by": "new_customer_count",
        "per_page": 5,
        "page": 2,
    },
    {
        "search": {"date": ["2023-03-01", "2023-03-31"]},
        "order_by": "name",
        "order": "asc",
        "per_page": 100,
    },
    {"search": {"date": ["2023-01-01", "2023-01-01"]}, "order_by": "follow_last_date"},
    {
        "search": {"department_id": 3},
        "order_by": "lose_customer_count",
        "order": "asc",
        "per_page": 1,
        "page": 2,
    },
    {"search": {"tag_id": 11}, "order_by": "customer_last_date", "order": "desc", "per_page": 100},
    {"order_by": "id", "order": "desc", "page": 3, "per_page": 4},
    {"order_by": "opportunity_count", "per_page": 6, "page": 2},
    # One filter sorted by a count: counts from the slice's cells, the page rows' dates from
    # the customers that can hold them (whole months, loose days, all time, later pages).
    {"search": {"date": ["2023-02-10", "2023-04-20"], "industry_id": 3}, "per_page": 100},
    {"search": {"date": ["2023-03-01", "2023-03-31"], "tag_id": 11}, "per_page": 4, "page": 2},
    {"search": {"date": ["2023-04-03", "2023-04-09"], "source_id": 2}, "per_page": 100},
    {"search": {"progress_id": 1}, "order_by": "follow_count", "per_page": 3, "page": 3},
]


def reference_page(
    events: list[dict[str, Any]], tenant: int, params: Params, zone: ZoneInfo = SHANGHAI
) -> tuple[list[dict[str, Any]], int]:
    """The rows and total SPEC §2/§3 demand for JSON-style params, from the naive model."""
    search = params.get("search", {})
    filters = {key: search[key] for key in search if key not in ("date", "name")}
    date_range = None
    if "date" in search:
        start, end = (datetime.date.fromisoformat(day) for day in search["date"])
        date_range = (start, end)
    rows = reference_rows(
        events, tenant, zone=zone, name=search.get("name", ""), date_range=date_range, **filters
    )
    ordered = reference_sorted(
        rows.values(), params.get("order_by", "customer_count"), params.get("order", "desc")
    )
    per_page = params.get("per_page", 10)
    start = (params.get("page", 1) - 1) * per_page
    chosen = ordered[start : start + per_page]
    if not reference_opportunity_plugin(events, tenant):
        chosen = [{k: v for k, v in row.items() if k != "opportunity_count"} for row in chosen]
    return chosen, len(ordered)
