"""Any order, duplication and partition split of the events gives the reference's answers."""

from __future__ import annotations

from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.params import SORT_FIELDS
from tests.harness import SHANGHAI, engine_rows, project, statistics_query
from tests.reference import reference_rows, reference_sorted
from tests.strategies import deliveries, event_lists, queries


@st.composite
def batches_of(
    draw: st.DrawFn, partitions: list[list[dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """Interleave partition streams (each kept in order) into poll batches of random size."""
    queues = [list(partition) for partition in partitions if partition]
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    while queues:
        queue = queues[draw(st.integers(0, len(queues) - 1))]
        current.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
        if draw(st.integers(0, 3)) == 0:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], list[dict[str, Any]]]:
    events = draw(event_lists())
    batches = draw(batches_of(draw(deliveries(events))))
    asked = draw(st.lists(queries(), min_size=1, max_size=6))
    return events, batches, asked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(SORT_FIELDS), st.sampled_from(["asc", "desc"]))
def test_projection_equals_reference_model(
    scenario: tuple[list[dict[str, Any]], list[list[dict[str, Any]]], list[dict[str, Any]]],
    order_by: str,
    order: str,
) -> None:
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
