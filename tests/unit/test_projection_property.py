"""Any order, duplication and partition split of the events gives the reference's answers."""

from __future__ import annotations

import datetime
from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.params import SORT_FIELDS, StatisticsQuery
from tests.contract import Scenario, scenarios
from tests.harness import SHANGHAI, engine_rows, project, statistics_query
from tests.reference import reference_rows, reference_sorted
from tests.strategies import ONE_FILTERS, TENANTS, date_ranges


def answer(
    server: fakeredis.FakeServer, tenant_id: int, query: StatisticsQuery
) -> tuple[list[dict[str, Any]], int]:
    """The engine's rows and total for `query`, read from what `project` wrote on `server`."""
    return engine_rows(
        lambda: fakeredis.FakeAsyncRedis(server=server), "prop", tenant_id, query, SHANGHAI
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(SORT_FIELDS), st.sampled_from(["asc", "desc"]))
def test_projection_equals_reference_model(scenario: Scenario, order_by: str, order: str) -> None:
    events, batches, asked = scenario
    server = fakeredis.FakeServer()
    project(fakeredis.FakeRedis(server=server), "prop", batches)
    for reference_query in asked:
        expected = reference_sorted(
            reference_rows(events, **reference_query).values(), order_by, order
        )
        query = statistics_query(reference_query, per_page=100, order_by=order_by, order=order)
        rows, total = answer(server, reference_query["tenant_id"], query)
        assert total == len(expected)
        assert rows == expected, reference_query


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenarios(),
    st.none() | date_ranges(),
    st.sampled_from(ONE_FILTERS),
    st.integers(1, 3),
)
def test_one_filter_answers_equal_reference_model(
    scenario: Scenario,
    date_range: tuple[datetime.date, datetime.date] | None,
    paged: tuple[str, int],
    per_page: int,
) -> None:
    """Sorted by count under one filter, the counts come from the slice's cells and the page
    rows' latest dates from the few customers that can hold them: every filter value of
    both tenants is asked on one page, and one of them page by page."""
    events, batches, _ = scenario
    server = fakeredis.FakeServer()
    project(fakeredis.FakeRedis(server=server), "prop", batches)

    def check(reference_query: dict[str, Any], page: int, size: int) -> None:
        expected = reference_sorted(
            reference_rows(events, zone=SHANGHAI, **reference_query).values(),
            "customer_count",
            "desc",
        )
        query = statistics_query(reference_query, page=page, per_page=size)
        rows, total = answer(server, reference_query["tenant_id"], query)
        assert total == len(expected)
        assert rows == expected[(page - 1) * size : page * size], reference_query

    ranged = {} if date_range is None else {"date_range": date_range}
    for tenant_id in TENANTS:
        for dimension, value in ONE_FILTERS:
            check({"tenant_id": tenant_id, dimension: value, **ranged}, 1, 100)
    for page in (1, 2, 3):
        check({"tenant_id": TENANTS[0], paged[0]: paged[1], **ranged}, page, per_page)
