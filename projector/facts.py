"""Facts: what a customer contributes to an employee's metrics, before any filter or bucket.

A fact is `(employee_id, kind, second)`: one counted thing at one instant. Every
metric of SPEC §2 is a count (or the latest second) of one kind of fact over the
customers that match a filter, so a customer's whole history is a small multiset
of facts, and a change of its attributes moves exactly that multiset between
filter slices.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import NamedTuple


class Kind(IntEnum):
    """Fact kinds; the value is the counter's slot in a projection cell."""

    ADDED = 0  # new_customer_count, customer_last_date
    LOST = 1  # lose_customer_count
    CURRENT = 2  # customer_count: one per active relationship, at its latest add
    FOLLOW = 3  # follow_count, follow_last_date
    OPPORTUNITY = 4  # opportunity_count


KINDS = len(Kind)
DATED_KINDS = (Kind.ADDED, Kind.FOLLOW)
"""Kinds whose latest second is shown (customer_last_date, follow_last_date)."""


class Fact(NamedTuple):
    """Named for readability where facts are built; the hot paths use plain `(e, k, s)` tuples,
    which compare and hash the same, so read facts by position."""

    employee_id: int
    kind: Kind
    second: int


FactDelta = dict[Fact, int]


class Attributes(NamedTuple):
    """A customer's current attributes; None means never set (matches only 'no filter')."""

    industry_id: int | None = None
    source_id: int | None = None
    progress_id: int | None = None
    tag_ids: tuple[int, ...] = ()


ALL = "*"
"""The slice every customer is in: answers queries without a customer filter."""

SLICE_PREFIX = {"industry_id": "i", "source_id": "s", "progress_id": "p", "tag_id": "t"}


def slice_name(dimension: str, value: int) -> str:
    """`industry_id`=5 -> 'i5'; the key part naming one filter value."""
    return f"{SLICE_PREFIX[dimension]}{value}"


def slices_of(attributes: Attributes) -> frozenset[str]:
    """Every single-filter slice a customer with these attributes is counted in."""
    names = [ALL]
    if attributes.industry_id is not None:
        names.append(f"i{attributes.industry_id}")
    if attributes.source_id is not None:
        names.append(f"s{attributes.source_id}")
    if attributes.progress_id is not None:
        names.append(f"p{attributes.progress_id}")
    names.extend(f"t{tag}" for tag in attributes.tag_ids)
    return frozenset(names)


def add_into(target: FactDelta, facts: Iterable[tuple[Fact, int]], sign: int = 1) -> None:
    """Accumulate signed fact counts, dropping the ones that cancel out."""
    for fact, count in facts:
        total = target.get(fact, 0) + sign * count
        if total:
            target[fact] = total
        else:
            target.pop(fact, None)
