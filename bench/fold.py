"""The projector's Python cost per event, without Kafka or Redis: decode, fold, encode.

The projector's rate is bounded by whichever of its Python thread and Redis is
slower; this measures the Python half alone, repeatably, on a generated log, so
a change to the pure core can be judged in seconds instead of a suite run.
States live in a dict standing in for Redis (what the write would SET is what
the next read returns), batches are cut like the consumer's polls.

With `--redis` the reads and writes also go to a private Valkey through the real
store (`ProjectorStore`), so the Redis half is measured too: the time spent in
the two scripts, which is Valkey's time since nothing else talks to it.

Usage: python -m bench.fold S0 [--batch 2000] [--limit N] [--profile] [--redis]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import redis

from bench import generate
from custstats.servers import EmbeddedRedis
from events.decode import Poison, decode
from events.schema import Event
from projector.batch import ReadRequest, Snapshot, employees_in_history, fold_batch, read_request
from projector.calendar import LocalCalendar
from projector.cells import CellProjection
from projector.codec import encode_writes
from projector.layout import Layout
from projector.runner import relax_gc
from projector.store import ProjectorStore


class MemoryStates:
    """Customer states and profiles by key, employee indexes by tenant: Redis' part of a batch."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.values: dict[str, bytes] = {}
        self.index: dict[int, dict[int, int]] = {}

    def snapshot(self, request: ReadRequest) -> Snapshot:
        snapshot = Snapshot()
        for tenant, customer in request.customers:
            raw = self.values.get(self.layout.customer(tenant, customer))
            snapshot.customers[(tenant, customer)] = (raw, raw)
        for tenant, employee in request.profiles:
            snapshot.profiles[(tenant, employee)] = self.values.get(
                f"{self.layout.profiles(tenant)}\0{employee}"
            )
        for tenant, employee in request.employees | employees_in_history(snapshot, request.movable):
            positions = self.index.setdefault(tenant, {})
            positions.setdefault(employee, len(positions))
        tenants = {t for t, _ in request.customers} | {t for t, _ in request.profiles}
        snapshot.index = {tenant: self.index.setdefault(tenant, {}) for tenant in tenants}
        return snapshot


def batches(lines: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


def run(lines: list[bytes], size: int, client: redis.Redis | None = None) -> dict[str, float]:
    layout = Layout("bench", 1)
    projection = CellProjection(layout, LocalCalendar(ZoneInfo("Asia/Shanghai")))
    states = MemoryStates(layout)
    store = ProjectorStore(client, layout) if client is not None else None
    spent = {"decode": 0.0, "read": 0.0, "fold": 0.0, "encode": 0.0, "write": 0.0, "compact": 0.0}
    arguments = 0
    for chunk in batches(lines, size):
        started = time.perf_counter()
        events: list[Event] = [e for e in map(decode, chunk) if not isinstance(e, Poison)]
        decoded = time.perf_counter()
        request = read_request(events)
        snapshot = states.snapshot(request) if store is None else store.snapshot(request)
        read = time.perf_counter()
        writes = fold_batch(events, snapshot, projection)
        folded = time.perf_counter()
        args = encode_writes(writes)
        encoded = time.perf_counter()
        arguments += len(args)
        if store is not None:
            reply = store._call(store._write, args)
            written = time.perf_counter()
            spent["write"] += written - encoded
            due = store.due_of(reply)
            if due:  # as the applier does after each write
                store.compact_logs(due)
                spent["compact"] += time.perf_counter() - written
        states.values.update(writes.values)
        for (key, field), value in writes.hash_sets.items():
            if key.endswith(":e"):
                states.values[f"{key}\0{field}"] = value
        spent["decode"] += decoded - started
        spent["read"] += read - decoded
        spent["fold"] += folded - read
        spent["encode"] += encoded - folded
    spent["total"] = sum(spent[phase] for phase in ("decode", "read", "fold", "encode"))
    spent["arguments"] = arguments
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", choices=sorted(generate.SCALES))
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--redis", action="store_true", help="also use a private Valkey")
    parser.add_argument("--url", help="with --redis: an empty server of yours instead")
    parser.add_argument("--default-gc", action="store_true", help="keep CPython's GC thresholds")
    args = parser.parse_args(argv)
    if not args.default_gc:
        relax_gc()  # as the projector does
    lines = []
    for line in generate.generate(generate.SCALES[args.scale]):
        lines.append(line)
        if args.limit and len(lines) >= args.limit:
            break
    if args.redis and args.url:
        spent = run(lines, args.batch, redis.Redis.from_url(args.url))
    elif args.redis:
        with EmbeddedRedis() as server:
            spent = run(lines, args.batch, redis.Redis.from_url(server.url))
    elif args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        spent = run(lines, args.batch)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        spent = run(lines, args.batch)
    count = len(lines)
    print(f"{count} records, batch {args.batch}")
    for phase in ("decode", "read", "fold", "encode", "total"):
        print(f"  {phase:7} {spent[phase] / count * 1e6:7.1f} µs/event")
    rate = count / spent["total"]
    print(f"  rate    {rate:9,.0f} events/s (Python alone; with --redis, read waits on Redis)")
    if args.redis:
        print(f"  write   {spent['write'] / count * 1e6:7.1f} µs/event (write script, server time)")
        print(f"  compact {spent['compact'] / count * 1e6:7.1f} µs/event (log compaction)")
    print(f"  script arguments per event {spent['arguments'] / count:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
