"""The DuckDB peer: the same log in an embedded columnar engine, one SQL query per request.

What a team that does not adopt custstats would do (issue 14): load the raw JSONL
event log into DuckDB tables built with SPEC §2's rules and answer each
statistics request with one SQL statement. The tables:

- ``events``: every distinct ``event_id`` once (a redelivery changes nothing), its
  instant parsed from RFC 3339 at any offset or from int unix seconds;
- ``customers``: per (tenant, customer) each attribute from the latest (occurred_at,
  then event_id) ``customer-added``/``customer-updated`` that carries the key (a key
  present with null replaces, a key absent keeps); no attribute event, no row;
- ``employees``: every employee an event of the tenant names (profile or
  reference, ``customer-updated`` names nobody), the latest profile or "" / null;
- ``relationships``: the active (employee, customer) pairs (latest add/lost is an
  add) with the display-zone day of their latest add;
- ``facts``: the counted events (added, lost, follow, opportunity) with their
  display-zone day and unix second;
- ``tenants``: whether the opportunity plugin is on (an opportunity event exists).

Only SQL time is measured (no HTTP), as for MariaDB.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from bench.generate import BIG_TENANT

ZONE = "Asia/Shanghai"
KINDS = {"customer-added": 1, "customer-lost": 2, "follow-recorded": 3, "opportunity-created": 4}
ADDED, LOST, FOLLOW, OPPORTUNITY = 1, 2, 3, 4
FIELDS = (
    "event_id", "type", "tenant_id", "occurred_at", "employee_id", "customer_id",
    "industry_id", "source_id", "progress_id", "tag_ids",
    "name", "department_ids", "userid", "avatar_mediaid",
)  # fmt: skip
EMPLOYEE_TYPES = (
    "employee-upserted", "customer-added", "customer-lost", "follow-recorded",
    "opportunity-created",
)  # fmt: skip
"""The types whose employee_id is a documented field (SPEC §1)."""
LATEST = "ORDER BY stamp DESC, event_id DESC"
"""SPEC §2's 'latest': greatest occurred_at, then the greater event_id as a string."""
ATTRIBUTES = ("industry_id", "source_id", "progress_id")
TABLES = ("customers", "customer_tags", "employees", "relationships", "facts", "tenants")


def _json(index: int) -> str:
    return f"v[{index + 1}]"


def _text(name: str) -> str:
    return f"{_json(FIELDS.index(name))}->>'$'"


def _int(name: str) -> str:
    return f"({_text(name)})::BIGINT"


def _events_sql(path: Path) -> str:
    """Every distinct event once, typed; attribute columns keep 'key present' (JSON, not NULL)."""
    paths = ", ".join(f"'$.{name}'" for name in FIELDS)
    occurred = _json(FIELDS.index("occurred_at"))
    literal = str(path).replace("'", "''")
    return f"""
CREATE TABLE events AS
SELECT DISTINCT ON (event_id) * FROM (
  SELECT {_text("event_id")} AS event_id, {_text("type")} AS type,
    {_int("tenant_id")} AS tenant_id,
    CASE WHEN json_type({occurred}) = 'VARCHAR' THEN upper({occurred}->>'$')::TIMESTAMPTZ
         ELSE to_timestamp(({occurred}->>'$')::BIGINT) END AS stamp,
    TRY_CAST({_text("employee_id")} AS BIGINT) AS employee_id,  -- customer-updated: ignored
    {_int("customer_id")} AS customer_id,
    {_json(FIELDS.index("industry_id"))} AS industry_id,
    {_json(FIELDS.index("source_id"))} AS source_id,
    {_json(FIELDS.index("progress_id"))} AS progress_id,
    {_json(FIELDS.index("tag_ids"))} AS tag_ids,
    {_text("name")} AS name, {_json(FIELDS.index("department_ids"))} AS department_ids,
    {_text("userid")} AS userid, {_text("avatar_mediaid")} AS avatar_mediaid
  FROM (SELECT json_extract(json, [{paths}]) AS v FROM read_ndjson_objects('{literal}'))
)"""


def _state_sql() -> list[str]:
    """The current-state tables, from ``events`` with the 'latest' rule."""
    attribute = ",\n".join(
        f"first(({name}->>'$')::BIGINT {LATEST}) FILTER (WHERE {name} IS NOT NULL) AS {name}"
        for name in ATTRIBUTES
    )
    employee_types = ", ".join(f"'{kind}'" for kind in EMPLOYEE_TYPES)
    profile = "FILTER (WHERE type = 'employee-upserted')"
    return [
        f"""CREATE TABLE customers AS SELECT tenant_id, customer_id, {attribute},
  first(tag_ids::BIGINT[] {LATEST}) FILTER (WHERE tag_ids IS NOT NULL) AS tag_ids
FROM events WHERE type IN ('customer-added', 'customer-updated') GROUP BY ALL""",
        """CREATE TABLE customer_tags AS SELECT DISTINCT tenant_id, customer_id, tag_id
FROM (SELECT tenant_id, customer_id, unnest(tag_ids) AS tag_id FROM customers)
ORDER BY tenant_id, tag_id""",
        "ALTER TABLE customers DROP COLUMN tag_ids",
        f"""CREATE TABLE employees AS SELECT tenant_id, employee_id,
  coalesce(first(name {LATEST}) {profile}, '') AS name,
  coalesce(first(department_ids::BIGINT[] {LATEST}) {profile}, []) AS department_ids,
  first(userid {LATEST}) {profile} AS userid,
  first(avatar_mediaid {LATEST}) {profile} AS avatar_mediaid
FROM events WHERE type IN ({employee_types}) GROUP BY ALL""",
        """CREATE TABLE relationships AS SELECT tenant_id, employee_id, customer_id,
  timezone($zone, max(stamp) FILTER (WHERE type = 'customer-added'))::DATE AS day
FROM events WHERE type IN ('customer-added', 'customer-lost') GROUP BY ALL
HAVING first(type ORDER BY stamp DESC, event_id DESC) = 'customer-added'
ORDER BY tenant_id, day""",
        f"""CREATE TABLE facts AS SELECT tenant_id,
  CASE type {" ".join(f"WHEN '{k}' THEN {v}" for k, v in KINDS.items())} END::TINYINT AS kind,
  employee_id, customer_id, timezone($zone, stamp)::DATE AS day,
  floor(epoch(stamp))::BIGINT AS second
FROM events WHERE type IN ({", ".join(f"'{k}'" for k in KINDS)}) ORDER BY tenant_id, day""",
        """CREATE TABLE tenants AS SELECT tenant_id,
  bool_or(type = 'opportunity-created') AS opportunity FROM events GROUP BY ALL""",
    ]


def connect(path: Path, zone: str = ZONE) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    """A fresh in-memory database with the log of `path` loaded; (connection, load figures)."""
    started = time.monotonic()
    conn = duckdb.connect(":memory:")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(_events_sql(path))
    parsed = time.monotonic()
    for statement in _state_sql():
        if "$zone" in statement:
            conn.execute(statement, {"zone": zone})
        else:
            conn.execute(statement)
    events = _scalar(conn, "SELECT count(*) FROM events")
    conn.execute("DROP TABLE events")
    conn.execute("CHECKPOINT")
    rows = {table: _scalar(conn, f"SELECT count(*) FROM {table}") for table in TABLES}
    return conn, {
        "seconds": time.monotonic() - started,
        "parse_s": parsed - started,
        "events": events,
        "rows": rows,
        "threads": _scalar(conn, "SELECT current_setting('threads')"),
        "version": duckdb.__version__,
    }


def _scalar(conn: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = conn.execute(sql).fetchone()
    return None if row is None else row[0]


def memory(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Bytes DuckDB's buffer manager holds (all of it tables: the raw events are dropped)."""
    tags = conn.execute(
        "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0"
    ).fetchall()
    size = conn.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchone()
    used = int(size[0]) * int(size[1]) if size else 0
    return {
        "memory_usage_bytes": sum(int(value) for _, value in tags),
        "database_bytes": used,
        **{f"tag_{tag.lower()}": int(value) for tag, value in tags},
    }


# --- one request, one statement ------------------------------------------------------------

DATE_SORTS = {"customer_last_date": "customer_last", "follow_last_date": "follow_last"}
COUNT_SORTS = (
    "follow_count", "lose_customer_count", "customer_count", "new_customer_count",
    "opportunity_count",
)  # fmt: skip
OUTPUT = (
    "id", "name", "follow_count", "lose_customer_count", "customer_count",
    "new_customer_count", "opportunity_count", "customer_last_date", "follow_last_date",
    "userid", "avatar_mediaid",
)  # fmt: skip


def _day(value: Any, zone: ZoneInfo) -> datetime.date:
    """One end of search.date: YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or unix seconds -> its day."""
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.datetime.fromtimestamp(int(value), zone).date()
    return datetime.date.fromisoformat(str(value).strip()[:10])


def order_clause(order_by: str, order: str, table: str = "") -> str:
    """ORDER BY of the rows: ties by id ascending; '-' (no date, NULL) before every date."""
    descending = order == "desc"
    direction = "DESC" if descending else "ASC"
    if order_by == "id":
        return f"{table}id {direction}"
    if order_by in DATE_SORTS:
        nulls = "NULLS LAST" if descending else "NULLS FIRST"
        return f"{table}{DATE_SORTS[order_by]} {direction} {nulls}, {table}id ASC"
    if order_by == "name" or order_by in COUNT_SORTS:
        return f"{table}{order_by} {direction}, {table}id ASC"
    raise ValueError(f"cannot sort by {order_by!r}")


def _customer_filter(search: dict[str, Any], args: dict[str, Any]) -> str:
    """' AND customer_id IN (...)' for the filters on current attributes, or ''."""
    conditions = []
    for name in ATTRIBUTES:
        if search.get(name):
            conditions.append(f"{name} = ${name}")
            args[name] = int(search[name])
    if search.get("tag_id"):
        conditions.append(
            "customer_id IN (SELECT customer_id FROM customer_tags "
            "WHERE tenant_id = $tenant AND tag_id = $tag_id)"
        )
        args["tag_id"] = int(search["tag_id"])
    if not conditions:
        return ""
    return (
        " AND customer_id IN (SELECT customer_id FROM customers "
        f"WHERE tenant_id = $tenant AND {' AND '.join(conditions)})"
    )


def _staff_filter(search: dict[str, Any], args: dict[str, Any]) -> str:
    where = ""
    name = str(search.get("name") or "").strip()
    if name:  # SPEC: case-insensitive substring (Python's casefold; lower() here)
        where += " AND contains(lower(name), lower($name))"
        args["name"] = name
    if search.get("department_id"):
        where += " AND list_contains(department_ids, $department_id)"
        args["department_id"] = int(search["department_id"])
    return where


def statistics_sql(
    params: dict[str, Any], tenant: int = BIG_TENANT, zone: str = ZONE
) -> tuple[str, dict[str, Any]]:
    """The one statement answering a request: total, plugin flag and the page's rows.

    Always one result row per page row, or one row of NULLs after the total and the
    plugin flag when the page is empty (past the last page, or no employee matches)."""
    search: dict[str, Any] = params.get("search") or {}
    args: dict[str, Any] = {"tenant": tenant, "zone": zone}
    customers = _customer_filter(search, args)
    days = ""
    if search.get("date"):
        first, last = (_day(value, ZoneInfo(zone)) for value in search["date"])
        days = " AND day BETWEEN $first AND $last"
        args |= {"first": first, "last": last}
    staff = _staff_filter(search, args)
    per_page = int(params.get("per_page") or 10)
    page = int(params.get("page") or 1)
    args |= {"limit": per_page, "offset": (page - 1) * per_page}
    order_by = params.get("order_by") or "customer_count"
    direction = params.get("order") or "desc"
    order = order_clause(order_by, direction)
    shown = "strftime(timezone($zone, to_timestamp({})), '%Y-%m-%d %H:%M:%S')"
    sql = f"""
WITH staff AS (
  SELECT employee_id, name, userid, avatar_mediaid FROM employees
  WHERE tenant_id = $tenant{staff}),
tally AS (
  SELECT employee_id,
    count(*) FILTER (WHERE kind = {ADDED}) AS new_customer_count,
    max(second) FILTER (WHERE kind = {ADDED}) AS customer_last,
    count(*) FILTER (WHERE kind = {LOST}) AS lose_customer_count,
    count(*) FILTER (WHERE kind = {FOLLOW}) AS follow_count,
    max(second) FILTER (WHERE kind = {FOLLOW}) AS follow_last,
    count(*) FILTER (WHERE kind = {OPPORTUNITY}) AS opportunity_count
  FROM facts WHERE tenant_id = $tenant{days}{customers} GROUP BY employee_id),
owned AS (
  SELECT employee_id, count(*) AS customer_count FROM relationships
  WHERE tenant_id = $tenant{days}{customers} GROUP BY employee_id),
answer AS (
  SELECT s.employee_id AS id, s.name,
    coalesce(t.follow_count, 0) AS follow_count,
    coalesce(t.lose_customer_count, 0) AS lose_customer_count,
    coalesce(o.customer_count, 0) AS customer_count,
    coalesce(t.new_customer_count, 0) AS new_customer_count,
    coalesce(t.opportunity_count, 0) AS opportunity_count,
    t.customer_last, t.follow_last, s.userid, s.avatar_mediaid
  FROM staff s LEFT JOIN tally t USING (employee_id) LEFT JOIN owned o USING (employee_id)),
page AS (SELECT * FROM answer ORDER BY {order} LIMIT $limit OFFSET $offset)
SELECT (SELECT count(*) FROM staff) AS total,
  (SELECT opportunity FROM tenants WHERE tenant_id = $tenant) AS plugin,
  p.id, p.name, p.follow_count, p.lose_customer_count, p.customer_count,
  p.new_customer_count, p.opportunity_count,
  {shown.format("p.customer_last")} AS customer_last_date,
  {shown.format("p.follow_last")} AS follow_last_date, p.userid, p.avatar_mediaid
FROM (SELECT 1) LEFT JOIN page p ON TRUE
ORDER BY {order_clause(order_by, direction, "p.")}"""
    return sql, args


def rows_of(records: list[tuple[Any, ...]]) -> tuple[list[dict[str, Any]], int]:
    """The statement's result as SPEC §3's rows (key order as the API writes them) and total."""
    if not records:
        return [], 0
    total, plugin = int(records[0][0]), bool(records[0][1])
    rows = []
    for record in records:
        values = dict(zip(OUTPUT, record[2:], strict=True))
        if values["id"] is None:
            continue
        if not plugin:
            del values["opportunity_count"]
        for name in DATE_SORTS:
            values[name] = values[name] or "-"
        rows.append(values)
    return rows, total


def run_request(
    conn: duckdb.DuckDBPyConnection, params: dict[str, Any], tenant: int = BIG_TENANT
) -> tuple[float, list[dict[str, Any]], int]:
    """Run one request's statement; (seconds, rows, total). Only the SQL is timed."""
    sql, args = statistics_sql(params, tenant)
    started = time.perf_counter()
    records = conn.execute(sql, args).fetchall()
    seconds = time.perf_counter() - started
    rows, total = rows_of(records)
    return seconds, rows, total
