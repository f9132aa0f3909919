"""What differs between the live projector and a rebuild, said once.

The live projector writes the `current` version (with its tenant overrides, fenced on
the epoch too), consumes in the group, dead-letters poison and marks readiness. A
rebuild writes a version of its own (or one tenant's), reads every partition outside
the group, counts poison without re-sending it, and stops once it could switch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from projector.control import CURRENT, EPOCH, REBUILD, tenant_rebuild_field
from projector.layout import ControlLayout, Layout
from projector.versions import live_layout

log = logging.getLogger(__name__)

Fence = tuple[str, str, bytes | None]
"""(key, field, value) that must still hold for a write to land."""


@dataclass(frozen=True, slots=True)
class Target:
    """The version a runner writes, and the fences every write of it checks."""

    layout: Layout
    fences: tuple[Fence, ...]


@dataclass(frozen=True, slots=True)
class Role:
    control: ControlLayout
    rebuild: Layout | None = None
    """The version a rebuild fills; None for the live projector."""
    tenant: int | None = None
    """A rebuild of one tenant: only its events are replayed."""

    @classmethod
    def live(cls, prefix: str) -> Role:
        return cls(ControlLayout(prefix))

    @classmethod
    def rebuilding(cls, layout: Layout, tenant: int | None = None) -> Role:
        return cls(ControlLayout(layout.prefix), layout, tenant)

    @property
    def is_live(self) -> bool:
        """Live: group consumer, dead letters sent, readiness marked, group offsets committed."""
        return self.rebuild is None

    @property
    def fence_field(self) -> str:
        if self.rebuild is None:
            return CURRENT
        return REBUILD if self.tenant is None else tenant_rebuild_field(self.tenant)

    def resolve(self, client: redis.Redis, first: bool = False) -> Target | None:
        """Where to write now; None when a rebuild is no longer the one the control names."""
        key = self.control.key
        if self.rebuild is None:
            layout, epoch = live_layout(client, self.control.prefix)
            version = str(layout.version).encode()
            return Target(layout, ((key, CURRENT, version), (key, EPOCH, epoch)))
        version = str(self.rebuild.version).encode()
        if not first and client.hget(key, self.fence_field) != version:
            return None
        return Target(self.rebuild, ((key, self.fence_field, version),))
