"""The six request classes, their varied parameters, and how fast the HTTP API answers them.

Every class draws fresh parameters per request (dates, filters, pages, sort), and
no request repeats, so no cache anywhere can make a class look faster than a
user clicking through the page would find it.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.generate import ATTRIBUTE_VALUES, BIG_TENANT, START, SURNAMES, Scale

CLASSES = {
    "a": "no filter",
    "b": "1-year date range",
    "c": "date range + one customer filter",
    "d": "all filters",
    "e": "deep page",
    "f": "sort by another field",
}
OTHER_SORTS = (
    "follow_count", "new_customer_count", "lose_customer_count", "opportunity_count",
    "customer_last_date", "follow_last_date", "name", "id",
)  # fmt: skip
Params = dict[str, Any]


@dataclass(slots=True)
class _Draw:
    rng: random.Random
    scale: Scale

    def day(self, latest: int) -> date:
        return START + timedelta(self.rng.randrange(max(latest, 1)))

    def range(self, length: int | None = None) -> list[str]:
        length = length if length is not None else self.rng.randint(7, 365)
        first = self.day(self.scale.days - length + 1)
        return [first.isoformat(), (first + timedelta(length - 1)).isoformat()]

    def value(self, popular: int = ATTRIBUTE_VALUES) -> int:
        """Mostly popular values (users filter on what they have), sometimes rare ones."""
        if self.rng.random() < 0.8:
            return self.rng.randint(1, popular)
        return self.rng.randint(1, ATTRIBUTE_VALUES)

    def department(self) -> int:
        return 101 + self.rng.randrange(self.scale.departments)

    def page(self, last: int = 5) -> int:
        return self.rng.randint(1, last)


def _params(klass: str, draw: _Draw) -> Params:
    rng = draw.rng
    per_page = rng.choice((10, 10, 10, 15, 20, 50))
    last_page = -(-draw.scale.employees // per_page)
    search: dict[str, Any] = {}
    body: Params = {"per_page": per_page, "page": draw.page()}
    if klass == "a":  # what the page shows first: early pages, any page size
        body["per_page"] = rng.randint(5, 100)
        body["page"] = draw.page(15)
    elif klass == "b":
        search["date"] = draw.range(365)
    elif klass == "c":
        search["date"] = draw.range()
        dimension = rng.choice(("industry_id", "source_id", "progress_id", "tag_id"))
        search[dimension] = draw.value(10 if dimension != "tag_id" else 30)
    elif klass == "d":
        search = {
            "name": rng.choice(SURNAMES[:30]),
            "department_id": draw.department(),
            "industry_id": draw.value(5),
            "source_id": draw.value(5),
            "progress_id": draw.value(5),
            "tag_id": draw.value(10),
            "date": draw.range(),
        }
        body["page"] = 1
    elif klass == "e":
        if rng.random() < 0.5:
            search["date"] = draw.range()
        body["page"] = rng.randint(max(1, last_page - 40), last_page)
    elif klass == "f":
        search["date"] = draw.range()
        body["order_by"] = rng.choice(OTHER_SORTS)
        body["order"] = rng.choice(("asc", "desc"))
    if search:
        body["search"] = search
    return body


def request_set(klass: str, count: int, scale: Scale, seed: int = 7) -> list[Params]:
    """`count` distinct parameter sets of one class (fewer only if the class has fewer)."""
    draw = _Draw(random.Random(f"{seed}-{klass}"), scale)
    seen: set[bytes] = set()
    out: list[Params] = []
    for _ in range(count * 20):
        params = _params(klass, draw)
        signature = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
        if signature not in seen:
            seen.add(signature)
            out.append(params)
            if len(out) == count:
                break
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[rank]


@dataclass(slots=True)
class Latency:
    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(
            len(ms), percentile(ms, 0.5), percentile(ms, 0.99), statistics.fmean(ms), max(ms)
        )


def statistics_url(base: str, tenant: int = BIG_TENANT) -> str:
    return f"{base}/business/{tenant}/plugin/CustomerManage/getStatisticsList"


def time_requests(
    base: str,
    bodies: list[Params],
    check: Callable[[Params, dict[str, Any]], None] | None = None,
) -> tuple[list[float], list[dict[str, Any]]]:
    """POST each body once, one at a time, on one keep-alive connection; (seconds, answers)."""
    url = statistics_url(base)
    seconds: list[float] = []
    answers: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as client:
        for warm in bodies[:20]:  # connection, first-use imports: not what a user waits for
            client.post(
                url, content=orjson.dumps(warm), headers={"content-type": "application/json"}
            )
        for body in bodies:
            payload = orjson.dumps(body)
            started = time.perf_counter()
            response = client.post(
                url, content=payload, headers={"content-type": "application/json"}
            )
            seconds.append(time.perf_counter() - started)
            answer = orjson.loads(response.content)
            if answer.get("result") != 1:
                raise RuntimeError(f"API refused {body}: {response.text[:300]}")
            if check is not None:
                check(body, answer)
            answers.append(answer)
    return seconds, answers


WRK_SCRIPT = """
local bodies = {}
local n = 0
for line in io.lines("%(bodies)s") do
  n = n + 1
  bodies[n] = line
end
local i = 0
request = function()
  i = i %% n + 1
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("WRK_JSON {\\"requests\\": %%d, \\"seconds\\": %%f, \\"p50_ms\\": %%f, "
    .. "\\"p99_ms\\": %%f, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
"""


def wrk_mix(
    base: str, mix: list[Params], workdir: Path, seconds: int = 20, connections: int = 32
) -> dict[str, Any]:
    """Requests/s of the mix at `connections` connections, by wrk with a Lua body rotation."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (bench/run.sh installs it)")
    bodies = workdir / "wrk-bodies.jsonl"
    bodies.write_bytes(b"\n".join(orjson.dumps(body) for body in mix) + b"\n")
    script = workdir / "wrk-mix.lua"
    path = statistics_url("")
    script.write_text(WRK_SCRIPT % {"bodies": bodies, "path": path})
    proc = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = orjson.loads(line.removeprefix("WRK_JSON "))
            result["rps"] = result["requests"] / result["seconds"]
            result["connections"] = connections
            return result
    raise RuntimeError(f"wrk printed no summary:\n{proc.stdout}\n{proc.stderr}")
