"""Customer state v3 against v2: bytes and `dumps`/`loads` CPU per state, on a generated log.

Every customer of the log is folded to its final state (`fold_all`), then each state is
dumped and loaded with both formats, GC frozen as in the projector. The v2 writer is
kept here (main at 77b7348) only to compare against.

Usage: python -m bench.state_codec S0 [--reps 3]
"""

from __future__ import annotations

import argparse
import base64
import time
from collections import defaultdict
from typing import Any

import orjson

from bench import generate
from events.decode import Poison, decode
from events.schema import EmployeeUpserted
from projector.customer import CustomerState, Version, dumps, fold_all, loads
from projector.runner import relax_gc

_CODES = {"industry_id": "i", "source_id": "s", "progress_id": "p", "tag_ids": "t"}


def dumps_v2(state: CustomerState) -> bytes:
    versions: list[Version] = []
    position: dict[Version, int] = {}

    def ref(version: Version | None) -> int:
        if version is None:
            return -1
        at = position.get(version)
        if at is None:
            at = position[version] = len(versions)
            versions.append(version)
        return at

    attributes = [
        [_CODES[name], value, ref(version)] for name, (value, version) in state.attributes.items()
    ]
    relationships = [[e, ref(rel.added), ref(rel.lost)] for e, rel in state.relationships.items()]
    facts: list[int] = []
    for (employee_id, kind, second), count in state.facts.items():
        facts.extend((employee_id, int(kind), second, count))
    body = {"v": 2, "t": versions, "a": attributes, "r": relationships, "f": facts}
    return orjson.dumps(body | {"s": base64.b64encode(state.seen).decode()})


def _timed(cases: list[tuple[str, Any, list[Any]]], reps: int) -> dict[str, float]:
    """Best µs per item of each case; the cases interleaved rep by rep, so a busy spell of the
    machine hits them alike."""
    best = {name: float("inf") for name, _, _ in cases}
    for _ in range(reps):
        for name, function, items in cases:
            started = time.perf_counter()
            for item in items:
                function(item)
            best[name] = min(best[name], (time.perf_counter() - started) / len(items) * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(generate.SCALES))
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for line in generate.generate(generate.SCALES[args.scale]):
        event = decode(line)
        if not isinstance(event, Poison | EmployeeUpserted):
            grouped[(event.tenant_id, event.customer_id)].append(event)
    states = [fold_all(events) for events in grouped.values()]
    relax_gc()
    v2 = [dumps_v2(state) for state in states]
    v3 = [dumps(state) for state in states]
    print(
        f"{len(states)} states; mean JSON bytes v2 {sum(map(len, v2)) / len(v2):.0f}, "
        f"v3 {sum(map(len, v3)) / len(v3):.0f}"
    )
    cases = [
        ("v2 dumps", dumps_v2, states),
        ("v3 dumps", dumps, states),
        ("v2 loads", loads, v2),
        ("v3 loads", loads, v3),
    ]
    for name, micros in _timed(cases, args.reps).items():
        print(f"  {name}  {micros:6.2f} µs/state")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
