"""Dead letters: what is sent for a poison record, cut to fit when it is too big."""

from __future__ import annotations

from events.decode import Poison
from projector.deadletter import MAX_KEY, MAX_REQUEST, MAX_VALUE, letter
from projector.source import MemoryRecord

POISON = Poison("not JSON")


def test_a_small_record_is_sent_whole_with_its_origin() -> None:
    record = MemoryRecord("t", 3, 41, b"k", b"{oops")
    key, value, headers = letter(record, POISON)
    assert (key, value) == (b"k", b"{oops")
    assert dict(headers) == {
        "reason": b"not JSON",
        "source-topic": b"t",
        "source-partition": b"3",
        "source-offset": b"41",
    }


def test_an_oversized_record_is_cut_to_fit_and_says_how_big_it_was() -> None:
    big = b"x" * (5 << 20)
    record = MemoryRecord("t", 0, 9, b"k" * (MAX_KEY + 5), big)
    key, value, headers = letter(record, POISON)
    assert value == big[:MAX_VALUE]
    assert key == b"k" * MAX_KEY
    fields = dict(headers)
    assert fields["truncated"] == b"true"
    assert fields["original-size"] == str(len(big)).encode()
    assert fields["original-key-size"] == str(MAX_KEY + 5).encode()
    assert fields["source-offset"] == b"9"
    sent = len(key) + len(value) + sum(len(n) + len(v) for n, v in headers)
    assert sent < MAX_REQUEST


def test_a_record_without_a_value_is_sent_empty() -> None:
    key, value, _ = letter(MemoryRecord("t", 0, 0, None, None), POISON)
    assert (key, value) == (None, b"")
