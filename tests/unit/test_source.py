"""MemorySource: the in-memory log that feeds the production pipeline in tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from projector.source import MemoryRecord, MemorySource


class Listener:
    def __init__(self) -> None:
        self.assigned_: list[int] = []

    def assigned(self, partitions: list[int]) -> None:
        self.assigned_ += partitions

    def revoked(self, partitions: list[int]) -> None:
        raise AssertionError("a memory source never revokes")


def offsets(polled: Mapping[int, Sequence[MemoryRecord]]) -> list[int]:
    return [record.offset for records in polled.values() for record in records]


def test_polls_come_as_cut_with_offsets_numbered_on_and_empty_polls_as_idle_ticks() -> None:
    source = MemorySource.of_values("t", [[b"a", b"b"], [], [b"c"]], start=10)
    listener = Listener()
    source.start(listener)
    assert listener.assigned_ == [0]
    assert offsets(source.poll(0)) == [10, 11]
    assert source.caught_up() == []
    assert source.poll(0) == {}
    assert offsets(source.poll(0)) == [12]
    assert source.caught_up() == [0]
    assert source.progress() == (3, 3)
    assert source.poll(0) == {}


def test_a_seek_forward_skips_and_a_seek_back_replays() -> None:
    source = MemorySource.of_values("t", [[b"a", b"b"], [b"c", b"d"]])
    source.seek(0, 1)
    assert offsets(source.poll(0)) == [1]
    assert offsets(source.poll(0)) == [2, 3]
    source.seek(0, None)
    assert offsets(source.poll(0)) == [0, 1]
    source.seek(0, 3)
    assert offsets(source.poll(0)) == [3]
