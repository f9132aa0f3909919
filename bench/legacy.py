"""The legacy baseline: the same log as a CRM's tables in MariaDB, and the SQL per request.

The tables are what the legacy CRM kept (staff, current customer attributes and
tags, relationship history and current state, follow records, opportunities),
built from the generated log with SPEC §2's rules (latest by occurred_at then
event_id, duplicates once), so both systems answer from the same facts. Each
request runs what the legacy endpoint ran: a GROUP BY employee per metric
joined to the current customer attributes, then sort + LIMIT/OFFSET, and the
paginator's COUNT(*). Only SQL time is measured (no PHP), which flatters the
baseline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pymysql
import pymysql.cursors

from bench.generate import BIG_TENANT

DATABASE = "custstats_bench"
BUFFER_POOL = 4 << 30
"""A legacy DB server is sized so its working set is cached; we give MariaDB 4 GiB."""

SCHEMA = """
CREATE TABLE staff (
  id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL,
  name VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  userid VARCHAR(64) NULL, avatar_mediaid VARCHAR(128) NULL,
  KEY staff_tenant (tenant_id)
) ENGINE=InnoDB;
CREATE TABLE staff_department (
  staff_id BIGINT NOT NULL, department_id BIGINT NOT NULL,
  PRIMARY KEY (staff_id, department_id), KEY department (department_id)
) ENGINE=InnoDB;
CREATE TABLE tenants (
  id BIGINT PRIMARY KEY, opportunity_plugin TINYINT NOT NULL
) ENGINE=InnoDB;
CREATE TABLE customers (
  id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL,
  industry_id BIGINT NULL, source_id BIGINT NULL, progress_id BIGINT NULL,
  KEY industry (tenant_id, industry_id), KEY source (tenant_id, source_id),
  KEY progress (tenant_id, progress_id)
) ENGINE=InnoDB;
CREATE TABLE customer_tags (
  customer_id BIGINT NOT NULL, tag_id BIGINT NOT NULL,
  PRIMARY KEY (customer_id, tag_id), KEY tag (tag_id, customer_id)
) ENGINE=InnoDB;
CREATE TABLE customer_employee (
  tenant_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, employee_id BIGINT NOT NULL,
  status TINYINT NOT NULL, added_at DATETIME NULL, lost_at DATETIME NULL,
  PRIMARY KEY (customer_id, employee_id),
  KEY current (tenant_id, status, added_at), KEY by_employee (tenant_id, employee_id)
) ENGINE=InnoDB;
CREATE TABLE customer_employee_log (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, tenant_id BIGINT NOT NULL,
  customer_id BIGINT NOT NULL, employee_id BIGINT NOT NULL,
  action ENUM('add', 'lose') NOT NULL, created_at DATETIME NOT NULL,
  KEY by_time (tenant_id, action, created_at), KEY by_employee (tenant_id, employee_id, created_at),
  KEY customer (customer_id)
) ENGINE=InnoDB;
CREATE TABLE follow_records (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, tenant_id BIGINT NOT NULL,
  customer_id BIGINT NOT NULL, employee_id BIGINT NOT NULL, created_at DATETIME NOT NULL,
  KEY by_time (tenant_id, created_at), KEY by_employee (tenant_id, employee_id, created_at),
  KEY customer (customer_id)
) ENGINE=InnoDB;
CREATE TABLE opportunities (
  id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL,
  customer_id BIGINT NOT NULL, employee_id BIGINT NOT NULL, created_at DATETIME NOT NULL,
  KEY by_time (tenant_id, created_at), KEY customer (customer_id)
) ENGINE=InnoDB
"""
TABLES = (
    "staff", "staff_department", "tenants", "customers", "customer_tags", "customer_employee",
    "customer_employee_log", "follow_records", "opportunities",
)  # fmt: skip
NULL = "\\N"
Version = tuple[str, str]
"""(occurred_at, event_id): SPEC §2's order of 'latest' (all stamps share one offset)."""


def connect(database: str | None = DATABASE) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(
        host="127.0.0.1",
        port=3306,
        user="root",
        password="",
        database=database,
        charset="utf8mb4",
        local_infile=True,
        autocommit=True,
    )


def _local(stamp: str) -> str:
    """'2023-03-30T14:41:18+08:00' -> the display-zone DATETIME the legacy CRM stored."""
    if not stamp.endswith("+08:00"):
        raise ValueError(f"the generator writes +08:00 only, got {stamp}")
    return stamp[:10] + " " + stamp[11:19]


@dataclass(slots=True)
class _Fold:
    """The log folded into the legacy tables' rows, with SPEC §2's 'latest' rule."""

    seen: set[str] = field(default_factory=set)
    staff: dict[int, tuple[Version, int, dict[str, Any] | None]] = field(default_factory=dict)
    attributes: dict[int, dict[str, tuple[Version, Any]]] = field(default_factory=dict)
    customer_tenant: dict[int, int] = field(default_factory=dict)
    relation: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    """(customer, employee) -> [tenant, latest version, its kind, latest add at, latest loss at]."""
    opportunity_tenants: set[int] = field(default_factory=set)
    tenants: set[int] = field(default_factory=set)
    log_rows: int = 0
    follow_rows: int = 0
    opportunity_rows: int = 0

    def name_employee(self, tenant: int, employee: int) -> None:
        if employee not in self.staff:
            self.staff[employee] = (("", ""), tenant, None)

    def attribute(self, event: dict[str, Any], version: tuple[str, str]) -> None:
        customer = event["customer_id"]
        self.customer_tenant[customer] = event["tenant_id"]
        held = self.attributes.setdefault(customer, {})
        for name in ("industry_id", "source_id", "progress_id", "tag_ids"):
            if name in event and (name not in held or held[name][0] < version):
                held[name] = (version, event[name])

    def relate(self, event: dict[str, Any], version: tuple[str, str], kind: str) -> None:
        key = (event["customer_id"], event["employee_id"])
        state = self.relation.setdefault(key, [event["tenant_id"], None, None, None, None])
        if state[1] is None or state[1] < version:
            state[1], state[2] = version, kind
        at = _local(event["occurred_at"])
        slot = 3 if kind == "add" else 4
        if state[slot] is None or state[slot] < at:
            state[slot] = at


def _tsv(values: list[Any]) -> bytes:
    return ("\t".join(NULL if value is None else str(value) for value in values) + "\n").encode()


def fold_log(path: Path, workdir: Path) -> dict[str, Path]:
    """Read the log once; write one TSV per table; returns table -> file."""
    fold = _Fold()
    files = {name: workdir / f"legacy-{name}.tsv" for name in TABLES}
    outs = {
        name: files[name].open("wb", buffering=1 << 20)
        for name in ("customer_employee_log", "follow_records", "opportunities")
    }
    try:
        with path.open("rb") as lines:
            for line in lines:
                event = orjson.loads(line)
                if event["event_id"] in fold.seen:
                    continue
                fold.seen.add(event["event_id"])
                _fold_one(fold, event, outs)
    finally:
        for out in outs.values():
            out.close()
    _write_state_tables(fold, files)
    return files


def _fold_one(fold: _Fold, event: dict[str, Any], outs: dict[str, Any]) -> None:
    kind, tenant = event["type"], event["tenant_id"]
    version = (event["occurred_at"], event["event_id"])
    fold.tenants.add(tenant)
    if kind == "employee-upserted":
        held = fold.staff.get(event["employee_id"])
        if held is None or held[2] is None or held[0] < version:
            fold.staff[event["employee_id"]] = (version, tenant, event)
        return
    if "employee_id" in event:
        fold.name_employee(tenant, event["employee_id"])
    at = _local(event["occurred_at"])
    if kind in ("customer-added", "customer-updated"):
        fold.attribute(event, version)
    if kind in ("customer-added", "customer-lost"):
        action = "add" if kind == "customer-added" else "lose"
        fold.relate(event, version, action)
        fold.log_rows += 1
        outs["customer_employee_log"].write(
            _tsv([fold.log_rows, tenant, event["customer_id"], event["employee_id"], action, at])
        )
    elif kind == "follow-recorded":
        fold.follow_rows += 1
        outs["follow_records"].write(
            _tsv([fold.follow_rows, tenant, event["customer_id"], event["employee_id"], at])
        )
    elif kind == "opportunity-created":
        fold.opportunity_tenants.add(tenant)
        outs["opportunities"].write(
            _tsv([event["opportunity_id"], tenant, event["customer_id"], event["employee_id"], at])
        )
    if "customer_id" in event:
        fold.customer_tenant.setdefault(event["customer_id"], tenant)


def _write_state_tables(fold: _Fold, files: dict[str, Path]) -> None:
    with files["staff"].open("wb") as staff, files["staff_department"].open("wb") as departments:
        for employee, (_, tenant, event) in fold.staff.items():
            if event is None:
                staff.write(_tsv([employee, tenant, "", None, None]))
                continue
            staff.write(
                _tsv([employee, tenant, event["name"], event["userid"], event["avatar_mediaid"]])
            )
            for department in sorted(set(event["department_ids"])):
                departments.write(_tsv([employee, department]))
    with files["tenants"].open("wb") as tenants:
        for tenant in sorted(fold.tenants):
            tenants.write(_tsv([tenant, int(tenant in fold.opportunity_tenants)]))
    with files["customers"].open("wb") as customers, files["customer_tags"].open("wb") as tags:
        for customer, tenant in fold.customer_tenant.items():
            held = fold.attributes.get(customer, {})
            values = [
                held[name][1] if name in held else None
                for name in ("industry_id", "source_id", "progress_id")
            ]
            customers.write(_tsv([customer, tenant, *values]))
            for tag in sorted(set(held["tag_ids"][1] if "tag_ids" in held else [])):
                tags.write(_tsv([customer, tag]))
    with files["customer_employee"].open("wb") as current:
        for (customer, employee), (tenant, _, kind, added, lost) in fold.relation.items():
            current.write(_tsv([tenant, customer, employee, int(kind == "add"), added, lost]))


def load(path: Path, workdir: Path) -> dict[str, Any]:
    """(Re)create the database from the log; returns timings and row counts."""
    started = time.monotonic()
    files = fold_log(path, workdir)
    folded = time.monotonic()
    with connect(None) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cur.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
        cur.execute(f"USE {DATABASE}")
        for statement in SCHEMA.split(";"):
            cur.execute(statement)
        rows = {}
        for table, file in files.items():
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'",
                (str(file),),
            )
            rows[table] = cur.rowcount
        for table in TABLES:
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
    for file in files.values():
        file.unlink()
    return {"fold_s": folded - started, "load_s": time.monotonic() - folded, "rows": rows}


def ensure_buffer_pool() -> tuple[int, int]:
    """Grow InnoDB's buffer pool to BUFFER_POOL if smaller; returns (before, after) bytes."""
    with connect(None) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@innodb_buffer_pool_size")
        (before,) = cur.fetchone()
        if int(before) < BUFFER_POOL:
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {BUFFER_POOL}")
            for _ in range(600):
                cur.execute("SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'")
                status = cur.fetchone()
                if status is None or "Completed" in status[1] or not status[1]:
                    break
                time.sleep(0.5)
        cur.execute("SELECT @@innodb_buffer_pool_size")
        (after,) = cur.fetchone()
    return int(before), int(after)


def restore_buffer_pool(size: int) -> None:
    with connect(None) as conn, conn.cursor() as cur:
        cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {int(size)}")


# --- the legacy endpoint's SQL -------------------------------------------------------------

SORTABLE = {
    "id": "s.id", "name": "s.name", "follow_count": "follow_count",
    "lose_customer_count": "lose_customer_count", "customer_count": "customer_count",
    "new_customer_count": "new_customer_count", "opportunity_count": "opportunity_count",
    "customer_last_date": "customer_last_date", "follow_last_date": "follow_last_date",
}  # fmt: skip


def _customer_filter(search: dict[str, Any], alias: str, args: list[Any]) -> tuple[str, str]:
    """(JOIN clause, WHERE conditions) restricting `alias`.customer_id to the filtered customers."""
    conditions = []
    for name in ("industry_id", "source_id", "progress_id"):
        if search.get(name):
            conditions.append(f"c.{name} = %s")
            args.append(search[name])
    if search.get("tag_id"):
        conditions.append("c.id IN (SELECT customer_id FROM customer_tags WHERE tag_id = %s)")
        args.append(search["tag_id"])
    if not conditions:
        return "", ""
    return f"JOIN customers c ON c.id = {alias}.customer_id", " AND " + " AND ".join(conditions)


def _metric(
    table: str,
    column: str,
    extra: str,
    select: str,
    tenant: int,
    search: dict[str, Any],
    args: list[Any],
) -> str:
    date = search.get("date")
    where_args: list[Any] = [tenant]
    where = f"x.tenant_id = %s{extra}"
    if date:
        where += f" AND x.{column} BETWEEN %s AND %s"
        where_args += [f"{date[0]} 00:00:00", f"{date[1]} 23:59:59"]
    join, conditions = _customer_filter(search, "x", where_args)
    args += where_args
    return (
        f"SELECT x.employee_id, {select} FROM {table} x {join} "
        f"WHERE {where}{conditions} GROUP BY x.employee_id"
    )


def _staff_where(tenant: int, search: dict[str, Any], args: list[Any]) -> str:
    where = "s.tenant_id = %s"
    args.append(tenant)
    if search.get("name"):
        where += " AND s.name COLLATE utf8mb4_general_ci LIKE %s"
        args.append(f"%{search['name']}%")
    if search.get("department_id"):
        where += (
            " AND EXISTS (SELECT 1 FROM staff_department d "
            "WHERE d.staff_id = s.id AND d.department_id = %s)"
        )
        args.append(search["department_id"])
    return where


def legacy_sql(
    params: dict[str, Any], tenant: int = BIG_TENANT
) -> tuple[str, list[Any], str, list[Any]]:
    """(page query, args, count query, args) of one request, as the legacy code built them."""
    search: dict[str, Any] = params.get("search", {})
    args: list[Any] = []
    follow = _metric(
        "follow_records",
        "created_at",
        "",
        "COUNT(*) AS n, MAX(x.created_at) AS last",
        tenant,
        search,
        args,
    )
    added = _metric(
        "customer_employee_log",
        "created_at",
        " AND x.action = 'add'",
        "COUNT(*) AS n, MAX(x.created_at) AS last",
        tenant,
        search,
        args,
    )
    lost = _metric(
        "customer_employee_log",
        "created_at",
        " AND x.action = 'lose'",
        "COUNT(*) AS n",
        tenant,
        search,
        args,
    )
    current = _metric(
        "customer_employee", "added_at", " AND x.status = 1", "COUNT(*) AS n", tenant, search, args
    )
    opportunity = _metric("opportunities", "created_at", "", "COUNT(*) AS n", tenant, search, args)
    where = _staff_where(tenant, search, args)
    order_by = SORTABLE[params.get("order_by", "customer_count")]
    direction = "ASC" if params.get("order", "desc") == "asc" else "DESC"
    per_page = int(params.get("per_page", 10))
    offset = (int(params.get("page", 1)) - 1) * per_page
    tail = "" if order_by == "s.id" else ", s.id ASC"
    page = (
        "SELECT s.id, s.name, COALESCE(f.n, 0) AS follow_count, "
        "COALESCE(l.n, 0) AS lose_customer_count, COALESCE(cur.n, 0) AS customer_count, "
        "COALESCE(a.n, 0) AS new_customer_count, COALESCE(o.n, 0) AS opportunity_count, "
        "a.last AS customer_last_date, f.last AS follow_last_date, s.userid, s.avatar_mediaid "
        f"FROM staff s LEFT JOIN ({follow}) f ON f.employee_id = s.id "
        f"LEFT JOIN ({added}) a ON a.employee_id = s.id "
        f"LEFT JOIN ({lost}) l ON l.employee_id = s.id "
        f"LEFT JOIN ({current}) cur ON cur.employee_id = s.id "
        f"LEFT JOIN ({opportunity}) o ON o.employee_id = s.id "
        f"WHERE {where} ORDER BY {order_by} {direction}{tail} LIMIT {per_page} OFFSET {offset}"
    )
    count_args: list[Any] = []
    count = f"SELECT COUNT(*) FROM staff s WHERE {_staff_where(tenant, search, count_args)}"
    return page, args, count, count_args


def _row(record: dict[str, Any], opportunity: bool) -> dict[str, Any]:
    row = {
        "id": record["id"], "name": record["name"],
        "follow_count": int(record["follow_count"]),
        "lose_customer_count": int(record["lose_customer_count"]),
        "customer_count": int(record["customer_count"]),
        "new_customer_count": int(record["new_customer_count"]),
    }  # fmt: skip
    if opportunity:
        row["opportunity_count"] = int(record["opportunity_count"])
    for name in ("customer_last_date", "follow_last_date"):
        value = record[name]
        row[name] = "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")
    row["userid"] = record["userid"]
    row["avatar_mediaid"] = record["avatar_mediaid"]
    return row


def run_request(
    conn: pymysql.connections.Connection[Any], params: dict[str, Any], tenant: int = BIG_TENANT
) -> tuple[float, list[dict[str, Any]], int]:
    """Run one request's SQL; (seconds, rows, total)."""
    page, args, count, count_args = legacy_sql(params, tenant)
    started = time.perf_counter()
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(count, count_args)
        total = int(next(iter(cur.fetchone().values())))
        cur.execute(page, args)
        records = cur.fetchall()
        cur.execute("SELECT opportunity_plugin FROM tenants WHERE id = %s", (tenant,))
        plugin = cur.fetchone()
    seconds = time.perf_counter() - started
    opportunity = bool(plugin and plugin["opportunity_plugin"])
    return seconds, [_row(record, opportunity) for record in records], total


def time_class(
    bodies: list[dict[str, Any]], budget_s: float, minimum: int = 10
) -> Iterator[tuple[dict[str, Any], float, list[dict[str, Any]], int]]:
    """Run bodies one at a time until done or past `budget_s` (after at least `minimum`)."""
    with connect() as conn:
        run_request(conn, bodies[0])  # warm the connection, not the data
        started = time.monotonic()
        for number, body in enumerate(bodies):
            if number >= minimum and time.monotonic() - started > budget_s:
                return
            seconds, rows, total = run_request(conn, body)
            yield body, seconds, rows, total
