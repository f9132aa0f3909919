"""The projector's ceiling: the least a consumer of this topic into Redis can do.

It polls with the projector's consumer settings, decodes each record with
orjson and does 4 HINCRBY per event (all-time, month and day counters by
employee and kind, and a per-customer counter) in one Lua call per poll batch.
No validation, no idempotence, no state: whatever the projector reaches as a
fraction of this is what its correctness costs.

Usage (a child process of the suite): python -m bench.ceiling BOOTSTRAP TOPIC REDIS_URL EXPECTED
"""

from __future__ import annotations

import sys
import time
import uuid
import warnings

import orjson
import redis

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer

from custstats.settings import Settings
from projector.source import consumer_config

LUA = """
for i = 1, #ARGV, 5 do
  local t, e, k, d, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local f = e .. ':' .. k
  redis.call('HINCRBY', 'ceil:' .. t .. ':a', f, 1)
  redis.call('HINCRBY', 'ceil:' .. t .. ':m:' .. string.sub(d, 1, 7), f, 1)
  redis.call('HINCRBY', 'ceil:' .. t .. ':d:' .. d, f, 1)
  redis.call('HINCRBY', 'ceil:' .. t .. ':c', c, 1)
end
return 1
"""


def consume(bootstrap: str, topic: str, redis_url: str, expected: int) -> tuple[int, float, float]:
    """Consume `expected` records; returns (events, seconds from first record, wall seconds)."""
    wall = time.monotonic()
    settings = Settings(
        kafka_bootstrap=bootstrap, topic=topic, group_id=f"ceiling-{uuid.uuid4().hex[:8]}"
    )
    client = redis.Redis.from_url(redis_url)
    script = client.register_script(LUA)
    consumer = KafkaConsumer(**consumer_config(settings.projector_config()))
    consumer.subscribe([topic])
    seen = 0
    first: float | None = None
    try:
        while seen < expected:
            batches = consumer.poll(timeout_ms=200)
            if not batches:
                continue
            if first is None:
                first = time.monotonic()
            args: list[str | int] = []
            for records in batches.values():
                for record in records:
                    event = orjson.loads(record.value)
                    args += [
                        event["tenant_id"],
                        event.get("employee_id", 0),
                        event["type"],
                        event["occurred_at"][:10],
                        event.get("customer_id", 0),
                    ]
                    seen += 1
            script(args=args)
    finally:
        consumer.close(autocommit=False)
    end = time.monotonic()
    return seen, end - (first or wall), end - wall


def main(argv: list[str]) -> int:
    bootstrap, topic, redis_url, expected = argv
    events, seconds, wall = consume(bootstrap, topic, redis_url, int(expected))
    sys.stdout.write(orjson.dumps({"events": events, "seconds": seconds, "wall": wall}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
