"""Field-by-field comparison of a custstats answer with a peer's rows (MariaDB, DuckDB).

The peers return only the rows and the total; the paginator's numbers follow from
them (SPEC §3), so those are compared too: current_page, per_page, from, to,
last_page and total. URLs are custstats' own and not compared.
"""

from __future__ import annotations

from typing import Any

LIMIT = 200
"""Mismatch lines kept per peer in a result file (the count is always exact)."""


def envelope(total: int, page: int, per_page: int) -> dict[str, Any]:
    """The paginator's numbers of SPEC §3 for a page of `total` rows."""
    last_page = max(1, -(-total // per_page))
    first = (page - 1) * per_page + 1
    shown = first <= total
    return {
        "current_page": page,
        "per_page": per_page,
        "from": first if shown else None,
        "to": min(total, page * per_page) if shown else None,
        "last_page": last_page,
        "total": total,
    }


def page_of(body: dict[str, Any]) -> tuple[int, int]:
    """(page, per_page) of a request body as the suite draws them (valid ints)."""
    return int(body.get("page") or 1), int(body.get("per_page") or 10)


def differences(
    data: dict[str, Any], rows: list[dict[str, Any]], total: int, page: int, per_page: int
) -> list[str]:
    """Every difference between custstats' `data` object and a peer's page, field by field."""
    found = []
    for name, theirs in envelope(total, page, per_page).items():
        if data.get(name) != theirs:
            found.append(f"{name}: custstats {data.get(name)!r} != peer {theirs!r}")
    ours = data.get("data", [])
    if len(ours) != len(rows):
        found.append(f"rows: custstats {len(ours)} != peer {len(rows)}")
    for number, (mine, theirs) in enumerate(zip(ours, rows, strict=False), start=1):
        for name in dict.fromkeys([*mine, *theirs]):
            if name not in mine or name not in theirs:
                side = "custstats" if name in mine else "peer"
                found.append(f"row {number} (id {mine.get('id')}): {name} only in {side}")
            elif mine[name] != theirs[name] or type(mine[name]) is not type(theirs[name]):
                found.append(
                    f"row {number} (id {mine.get('id')}): {name} custstats {mine[name]!r} "
                    f"!= peer {theirs[name]!r}"
                )
        if list(mine) != list(theirs) and set(mine) == set(theirs):
            found.append(f"row {number} (id {mine.get('id')}): key order differs")
    return found


class Tally:
    """Agreements and mismatch lines of one peer over a run."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.agreed = 0
        self.compared = 0
        self.mismatched = 0
        self.lines: list[str] = []

    def add(self, klass: str, body_json: str, problems: list[str]) -> bool:
        self.compared += 1
        if not problems:
            self.agreed += 1
            return True
        self.mismatched += 1
        if len(self.lines) < LIMIT:
            self.lines.append(f"{klass} {body_json}: {'; '.join(problems[:8])}")
        return False
