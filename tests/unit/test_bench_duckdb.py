"""The DuckDB peer of the benchmark (bench/peer_duckdb.py) and the answer comparison.

The peer must answer exactly what SPEC §2 says, or the suite's comparison would blame
custstats for the peer's mistakes: it is checked against the reference model on the
same messy logs the projection's property tests use (offsets, fractions, unix
seconds, ties broken by event_id, redeliveries, unknown fields).
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.compare import Tally, differences, envelope
from bench.peer_duckdb import connect, order_clause, run_request, statistics_sql
from tests.reference import (
    SORTABLE_FIELDS,
    reference_opportunity_plugin,
    reference_rows,
    reference_sorted,
)
from tests.strategies import deliveries, event_lists, queries

ZONE = "Asia/Shanghai"


def _load(lines: list[dict[str, Any]], folder: Path) -> Any:
    path = folder / "log.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    conn, _ = connect(path, ZONE)
    return conn


def _params(query: dict[str, Any], order_by: str, order: str, page: int, per_page: int) -> Any:
    search: dict[str, Any] = {
        key: query[key]
        for key in ("name", "department_id", "industry_id", "source_id", "progress_id", "tag_id")
        if key in query
    }
    if "date_range" in query:
        search["date"] = [day.isoformat() for day in query["date_range"]]
    body = {"order_by": order_by, "order": order, "page": page, "per_page": per_page}
    return body | ({"search": search} if search else {})


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_peer_answers_as_the_reference_model(data: st.DataObject) -> None:
    events = data.draw(event_lists())
    delivered = [event for part in data.draw(deliveries(events)) for event in part]
    query = data.draw(queries())
    order_by = data.draw(st.sampled_from(SORTABLE_FIELDS))
    order = data.draw(st.sampled_from(("asc", "desc")))
    page, per_page = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    tenant = query.pop("tenant_id")
    with tempfile.TemporaryDirectory() as folder:
        conn = _load(delivered, Path(folder))
        _, rows, total = run_request(conn, _params(query, order_by, order, page, per_page), tenant)
        conn.close()
    expected = reference_sorted(reference_rows(events, tenant, **query).values(), order_by, order)
    if not reference_opportunity_plugin(events, tenant):
        for row in expected:
            del row["opportunity_count"]
    assert total == len(expected)
    assert rows == expected[(page - 1) * per_page : page * per_page]


def test_a_present_null_replaces_and_an_absent_key_keeps(tmp_path: Path) -> None:
    base = {"tenant_id": 1, "employee_id": 7, "customer_id": 3}
    conn = _load(
        [
            {
                "event_id": "a",
                "type": "customer-added",
                "occurred_at": "2023-03-01T10:00:00Z",
                "industry_id": 5,
                "source_id": 6,
                "progress_id": 7,
                "tag_ids": [9],
                **base,
            },
            {
                "event_id": "b",
                "type": "customer-updated",
                "occurred_at": 1677700000,
                "tenant_id": 1,
                "customer_id": 3,
                "industry_id": None,
            },
        ],
        tmp_path,
    )
    found = conn.execute(
        "SELECT industry_id, source_id, progress_id FROM customers WHERE customer_id = 3"
    ).fetchall()
    assert found == [(None, 6, 7)]
    _, rows, total = run_request(conn, {"search": {"source_id": 6, "tag_id": 9}}, 1)
    assert total == 1
    assert rows[0]["new_customer_count"] == 1
    assert "opportunity_count" not in rows[0]
    assert rows[0]["customer_last_date"] == "2023-03-01 18:00:00"


def test_order_clause_puts_no_date_first_and_ties_by_id() -> None:
    assert order_clause("customer_last_date", "asc") == "customer_last ASC NULLS FIRST, id ASC"
    assert order_clause("follow_last_date", "desc", "p.") == (
        "p.follow_last DESC NULLS LAST, p.id ASC"
    )
    assert order_clause("name", "desc") == "name DESC, id ASC"
    assert order_clause("id", "desc") == "id DESC"
    with pytest.raises(ValueError):
        order_clause("secret", "asc")


def test_statistics_sql_binds_every_value() -> None:
    sql, args = statistics_sql(
        {"search": {"name": " 韦 ", "tag_id": 4, "date": ["2023-03-01", "2023-03-31 12:00:00"]},
         "page": 3, "per_page": 20},
        tenant=25,
    )  # fmt: skip
    assert "韦" not in sql
    assert args["name"] == "韦"
    assert args["first"] == datetime.date(2023, 3, 1)
    assert args["last"] == datetime.date(2023, 3, 31)
    assert (args["limit"], args["offset"], args["tag_id"]) == (20, 40, 4)
    assert "industry_id = $industry_id" not in sql


def test_envelope_past_the_last_page() -> None:
    assert envelope(43, 5, 10) | {} == {
        "current_page": 5, "per_page": 10, "from": 41, "to": 43, "last_page": 5, "total": 43,
    }  # fmt: skip
    assert envelope(43, 6, 10)["from"] is None
    assert envelope(0, 1, 10)["last_page"] == 1


def test_differences_name_each_field() -> None:
    row = {"id": 1, "name": "a", "follow_count": 2, "customer_last_date": "-"}
    data = envelope(1, 1, 10) | {"data": [row]}
    assert differences(data, [dict(row)], 1, 1, 10) == []
    other = dict(row, follow_count=3)
    del other["customer_last_date"]
    found = differences(data, [other], 1, 1, 10)
    assert found == [
        "row 1 (id 1): follow_count custstats 2 != peer 3",
        "row 1 (id 1): customer_last_date only in custstats",
    ]
    assert differences(data, [], 2, 1, 10)[0] == "to: custstats 1 != peer 2"
    assert differences(data, [dict(row, follow_count=True)], 1, 1, 10)


def test_tally_keeps_counts_and_lines() -> None:
    tally = Tally("duckdb")
    assert tally.add("a", "{}", [])
    assert not tally.add("b", '{"page": 2}', ["total: custstats 1 != peer 2"])
    assert (tally.agreed, tally.compared, tally.mismatched) == (1, 2, 1)
    assert tally.lines == ['b {"page": 2}: total: custstats 1 != peer 2']
