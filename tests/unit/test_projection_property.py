"""Any order, duplication and partition split of the events gives the reference's answers."""

from __future__ import annotations

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.params import SORT_FIELDS
from tests.contract import Scenario, scenarios
from tests.harness import SHANGHAI, engine_rows, project, statistics_query
from tests.reference import reference_rows, reference_sorted


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
        rows, total = engine_rows(
            lambda: fakeredis.FakeAsyncRedis(server=server),
            "prop",
            reference_query["tenant_id"],
            query,
            SHANGHAI,
        )
        assert total == len(expected)
        assert rows == expected, reference_query
