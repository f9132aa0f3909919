"""The projector's Redis adapter: one call reads a batch's states, one call writes its result.

Both calls are Lua scripts, so a batch costs two round trips whatever its size,
and the write (states, counters, Kafka offsets) is all-or-nothing: a crash at
any instant leaves either the whole batch or none of it.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import redis

from projector.batch import ReadRequest, Snapshot, TenantEmployee, employees_in_history
from projector.cells import BatchWrites
from projector.codec import compact, encode_writes
from projector.errors import StoreError
from projector.layout import Layout

READ_SCRIPT = files("projector").joinpath("read.lua").read_text()
WRITE_SCRIPT = files("projector").joinpath("write.lua").read_text()
COMPACT_SCRIPT = files("projector").joinpath("compact.lua").read_text()


class ProjectorStore:
    def __init__(self, client: redis.Redis, layout: Layout) -> None:
        self.client = client
        self.layout = layout
        self._read = client.register_script(READ_SCRIPT)
        self._write = client.register_script(WRITE_SCRIPT)
        self._compact = client.register_script(COMPACT_SCRIPT)
        self.due: list[tuple[str, str]] = []
        """(base, tail) of the filter month logs the last commit found due for compaction."""
        self._index: dict[int, dict[int, int]] = {}

    def forget_cache(self) -> None:
        """Drop cached employee indexes (after the projection was found missing)."""
        self._index.clear()

    def _call(self, script: Any, args: list[Any]) -> list[Any]:
        try:
            reply: list[Any] = script(args=args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis: {exc}") from exc
        return reply

    def _ensure_indexes(self, employees: set[TenantEmployee]) -> None:
        missing = sorted(
            (tenant, employee)
            for tenant, employee in employees
            if employee not in self._index.get(tenant, {})
        )
        if not missing:
            return
        args: list[Any] = []
        for tenant, employee in missing:
            args += ["I", self.layout.employee_index(tenant), employee]
        for (tenant, employee), position in zip(missing, self._call(self._read, args), strict=True):
            self._index.setdefault(tenant, {})[employee] = int(position)

    def snapshot(self, request: ReadRequest) -> Snapshot:
        customers = sorted(request.customers)
        profiles = sorted(request.profiles)
        args: list[Any] = []
        for tenant, customer in customers:
            args += ["C", self.layout.customer(tenant, customer)]
        for tenant, employee in profiles:
            args += ["P", self.layout.profiles(tenant), employee]
        reply = self._call(self._read, args) if args else []
        snapshot = Snapshot()
        for number, key in enumerate(customers):
            snapshot.customers[key] = (reply[number], reply[number])
        offset = len(customers)
        for number, key in enumerate(profiles):
            snapshot.profiles[key] = reply[offset + number]
        self._ensure_indexes(request.employees | employees_in_history(snapshot, request.movable))
        tenants = {tenant for tenant, _ in request.customers} | {t for t, _ in request.profiles}
        snapshot.index = {tenant: self._index.setdefault(tenant, {}) for tenant in tenants}
        return snapshot

    def commit(self, writes: BatchWrites) -> tuple[str, str] | None:
        """Apply the batch; else nothing is written and the failed check's (key, field) returned."""
        reply = self._call(self._write, encode_writes(writes))
        if int(reply[0]) == 1:
            self.due = self.due_of(reply)
            return None
        return list(writes.checks)[int(reply[1]) - 1]

    @staticmethod
    def due_of(reply: list[Any]) -> list[tuple[str, str]]:
        """(base, tail) of the logs a successful write script's reply names as due."""
        named = [key.decode() if isinstance(key, bytes) else key for key in reply[2:]]
        return list(zip(named[1::2], named[0::2], strict=True))

    def compact_logs(self, due: list[tuple[str, str]]) -> int:
        """Fold each log's tail into its base (codec.compact), each swap conditional on both
        being as read (compact.lua); returns how many swapped. Never needed for correctness."""
        try:
            values: list[bytes | None] = self.client.mget([key for pair in due for key in pair])  # type: ignore[assignment]
            with self.client.pipeline(transaction=False) as pipe:
                for (base, tail), held, appended in zip(
                    due, values[0::2], values[1::2], strict=True
                ):
                    new = compact(held, appended)
                    self._compact(
                        keys=[base, tail], args=[held or b"", appended or b"", new], client=pipe
                    )
                swapped = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"Redis: {exc}") from exc
        return sum(int(done) for done in swapped)

    def applied_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition, as written with the last applied batch."""
        try:
            raw = self.client.hgetall(self.layout.offsets(topic))
        except redis.RedisError as exc:
            raise StoreError(f"Redis: {exc}") from exc
        return {int(partition): int(offset) for partition, offset in raw.items()}
