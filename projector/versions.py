"""Which projection version is current, and whether this code can write it.

A version is a key namespace (`<prefix>:v<N>:...`). The pointer `<prefix>:current`
names the one the API answers from; each version records the format of the code
that wrote it, so a projector whose layout changed never misreads an older one.
"""

from __future__ import annotations

import redis

from projector.layout import ControlLayout, Layout

PROJECTION_FORMAT = 1
"""Bump whenever key layout or state encoding changes: old versions must be rebuilt."""


class FormatMismatch(Exception):
    """The current projection was written by code with another layout."""


def format_key(layout: Layout) -> str:
    return f"{layout.root}:format"


def ensure_current_layout(client: redis.Redis, prefix: str) -> Layout:
    """The current version's layout; version 1 is created on first use."""
    control = ControlLayout(prefix)
    client.set(control.current_version, 1, nx=True)
    version = int(client.get(control.current_version) or 1)
    layout = Layout(prefix, version)
    client.set(format_key(layout), PROJECTION_FORMAT, nx=True)
    written = int(client.get(format_key(layout)) or PROJECTION_FORMAT)
    if written != PROJECTION_FORMAT:
        raise FormatMismatch(
            f"projection v{version} has format {written}, this code writes {PROJECTION_FORMAT}: "
            "run `custstats rebuild`"
        )
    return layout
