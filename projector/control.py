"""The rules about the control hash and the operator's tenant config, in one pure place.

Writers (projector, rebuild, `custstats tenant`) and readers (the API, `status`)
must agree on what a stored field means: which version answers, when a
projection is ready, whether a tenant's opportunity plugin is on, how an API key
is checked, which tenant ids exist. These are pure functions over the plain
values Redis returns, so they are tested with tables; the sync and async Redis
reads stay thin and live next to their users.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from projector.layout import Layout

# --- control hash fields (`ControlLayout.key`) --------------------------------------------
CURRENT = "current"
"""The version the API answers from and the live projector writes."""
REBUILD = "rebuild"
"""The version a full rebuild is filling."""
EPOCH = "epoch"
"""Bumped whenever a tenant moves to another version: live writers re-read the overrides."""
TENANT_PREFIX = "tenant:"
"""`tenant:<id>` -> the version a tenant rebuilt on its own lives in."""
TENANT_REBUILD_PREFIX = "rebuild:"
"""`rebuild:<id>` -> the version a tenant rebuild is filling."""
REBUILD_DONE = "rebuild_done"
REBUILD_TOTAL = "rebuild_total"
REBUILD_STARTED = "rebuild_started"
REBUILD_PROGRESS = (REBUILD_DONE, REBUILD_TOTAL, REBUILD_STARTED)
"""Rebuild progress: records replayed, records to replay, unix start time."""
REBUILD_HEARTBEAT = "rebuild_heartbeat"
"""Unix seconds, refreshed every few seconds by a running rebuild (see `rebuild_stale`)."""
REBUILD_FIELDS = (*REBUILD_PROGRESS, REBUILD_HEARTBEAT)
"""Every field a rebuild writes besides its version field: removed when it is over."""
REBUILD_STALE_AFTER = 30.0
"""Seconds without a heartbeat after which a rebuild is shown as stale (its process is gone)."""

# --- freshness hash fields (`Layout.fresh_key`) -------------------------------------------
FRESH_END_PREFIX = "end:"
"""`end:<p>` -> the end offset (high watermark) of partition p last seen by its owner."""
FRESH_TARGET_PREFIX = "target:"
"""`target:<p>` -> the end offset of p when the version started being built from the log."""
FRESH_APPLIED_AT = "applied_at"
"""Unix milliseconds of the last applied batch (idle polls at the end refresh it)."""
READY_PARTITIONS = "partitions"
"""Ready hash (`Layout.ready_key`): how many partitions the topic has; one field per
partition marked complete besides it."""

# --- tenant meta fields (`Layout.meta`) ---------------------------------------------------
META_EVENTS = "events"
META_DUPLICATES = "duplicates"
META_OPPORTUNITY = "opportunity"
"""'1' once an opportunity event of the tenant was projected."""
META_FIRST_DAY = "first_day"
META_LAST_DAY = "last_day"
META_PROFILES = "profiles"
"""Counts profile writes: readers' staff caches key on it."""

# --- tenant config fields (`ControlLayout.tenant_config`) ---------------------------------
CONFIG_OPPORTUNITY = "opportunity"
"""on / off; absent = auto."""
CONFIG_API_KEY = "api_key"
"""SHA-256 hex digest of the tenant's API key; absent = open."""

OpportunityMode = Literal["on", "off", "auto"]
MODES: tuple[OpportunityMode, ...] = ("on", "off", "auto")

MIN_TENANT_ID = 1
MAX_TENANT_ID = 2**63 - 1
"""SPEC §1: tenant ids are 1 .. 2^63-1 and every one of them can be queried."""


def tenant_field(tenant_id: int) -> str:
    return f"{TENANT_PREFIX}{tenant_id}"


def tenant_rebuild_field(tenant_id: int) -> str:
    return f"{TENANT_REBUILD_PREFIX}{tenant_id}"


def end_field(partition: int) -> str:
    return f"{FRESH_END_PREFIX}{partition}"


def target_field(partition: int) -> str:
    return f"{FRESH_TARGET_PREFIX}{partition}"


def valid_tenant_id(tenant_id: int) -> bool:
    return MIN_TENANT_ID <= tenant_id <= MAX_TENANT_ID


def parse_tenant_id(text: str) -> int | None:
    """A tenant id as written in a URL or on the command line (ASCII digits only); None when it
    is not one, which the API answers as an unknown tenant."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_TENANT_ID)):
        return None
    value = int(text)
    return value if valid_tenant_id(value) else None


def overrides_of(control: Mapping[bytes, bytes]) -> tuple[tuple[int, int], ...]:
    """(tenant, version) of every tenant rebuilt on its own, sorted."""
    prefix = TENANT_PREFIX.encode()
    return tuple(
        sorted(
            (int(name[len(prefix) :]), int(value))
            for name, value in control.items()
            if name.startswith(prefix)
        )
    )


def live_layout(prefix: str, control: Mapping[bytes, bytes]) -> Layout | None:
    """The layout readers answer from: the current version plus per-tenant overrides; None
    before any projector ran."""
    raw = control.get(CURRENT.encode())
    if raw is None:
        return None
    return Layout(prefix, int(raw), overrides_of(control))


@dataclass(frozen=True, slots=True)
class Readiness:
    """The ready hash read as a verdict: every partition of the topic caught up with once."""

    ready: bool
    caught_up: int
    partitions: int

    @property
    def reason(self) -> str:
        if self.partitions == 0:
            return "the projector has not caught up with the topic yet"
        if not self.ready:
            return f"catching up: {self.caught_up} of {self.partitions} partitions done"
        return "caught up"


def readiness(marks: Mapping[bytes, bytes]) -> Readiness:
    """`marks` is the ready hash: partition -> '1', plus `partitions` = how many there are."""
    partitions = int(marks.get(READY_PARTITIONS.encode(), b"0"))
    caught_up = sum(1 for name in marks if name != READY_PARTITIONS.encode())
    return Readiness(partitions > 0 and caught_up >= partitions, caught_up, partitions)


@dataclass(frozen=True, slots=True)
class Freshness:
    """The freshness hash read: per-partition end and target offsets, last apply time."""

    ends: dict[int, int]
    targets: dict[int, int]
    applied_at_ms: int | None


def freshness(raw: Mapping[bytes, bytes]) -> Freshness:
    """Parse the freshness hash; fields it does not know are ignored."""
    ends: dict[int, int] = {}
    targets: dict[int, int] = {}
    applied_at: int | None = None
    for name, value in raw.items():
        text = name.decode(errors="replace")
        if text == FRESH_APPLIED_AT:
            applied_at = int(value)
        elif text.startswith(FRESH_END_PREFIX):
            ends[int(text[len(FRESH_END_PREFIX) :])] = int(value)
        elif text.startswith(FRESH_TARGET_PREFIX):
            targets[int(text[len(FRESH_TARGET_PREFIX) :])] = int(value)
    return Freshness(ends, targets, applied_at)


def partition_lags(offsets: Mapping[int, int], ends: Mapping[int, int]) -> dict[int, int]:
    """Records not yet applied, per partition with a known end (no applied offset: all)."""
    return {p: max(0, end - offsets.get(p, 0)) for p, end in ends.items()}


def lag(offsets: Mapping[int, int], ends: Mapping[int, int]) -> int:
    """SPEC §3 `X-Custstats-Lag`: records of the topic not yet applied, summed over partitions."""
    return sum(partition_lags(offsets, ends).values())


@dataclass(frozen=True, slots=True)
class Completeness:
    complete: bool
    percent: int
    """How far a version built from the log has got: 0..99 while incomplete, 100 once complete."""


def completeness(
    marks: Mapping[bytes, bytes], offsets: Mapping[int, int], targets: Mapping[int, int]
) -> Completeness:
    """A version is complete once its ready marks are (the projector writes them when every
    partition's applied offset reached its target); the percent is the share of the targets
    applied, floored, and never 100 before the marks say complete."""
    if readiness(marks).ready:
        return Completeness(True, 100)
    total = sum(targets.values())
    if total <= 0:
        return Completeness(False, 0)
    done = sum(min(offsets.get(p, 0), target) for p, target in targets.items())
    return Completeness(False, min(99, 100 * done // total))


def partition_complete(applied: int | None, target: int | None) -> bool:
    """The projector's rule for marking a partition ready in a batch: its applied offset reached
    the target (no target known yet: not from a batch; an idle poll at the end marks it)."""
    if target is None or applied is None:
        return False
    return applied >= target


def ready_verdict(
    complete: bool, lag_per_partition: Mapping[int, int], max_lag: int, config_restored: bool
) -> tuple[bool, str]:
    """SPEC §3 `/readyz`: complete, operator settings restored, every partition's lag within
    `max_lag`. The reason names the first unmet condition (or says ready)."""
    if not complete:
        return False, "the projection is being rebuilt from the log"
    if not config_restored:
        return False, "operator settings are being restored from the config topic"
    behind = {p: n for p, n in lag_per_partition.items() if n > max_lag}
    if behind:
        worst = max(behind, key=lambda p: (behind[p], -p))
        return False, (
            f"partition {worst} is {behind[worst]} records behind (bound {max_lag})"
            + (f", {len(behind) - 1} more partitions over it" if len(behind) > 1 else "")
        )
    return True, "ready"


def rebuild_stale(heartbeat: float | None, now: float, bound: float = REBUILD_STALE_AFTER) -> bool:
    """A rebuild named in the control hash whose heartbeat (`REBUILD_HEARTBEAT`, unix s) is
    older than `bound` s, or missing, has no process behind it any more: show it as stale."""
    return heartbeat is None or now - heartbeat > bound


def opportunity_mode(raw: bytes | str | None) -> OpportunityMode:
    """The stored mode; absent or unknown values mean auto."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    for mode in MODES:
        if text == mode:
            return mode
    return "auto"


def opportunity_on(mode: OpportunityMode, seen: bool) -> bool:
    """SPEC §2: on once an opportunity event was projected, unless set on or off explicitly."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return seen


def api_key_digest(key: str) -> str:
    """API keys are stored as SHA-256 hex digests, never in the clear."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_accepts(stored_digest: bytes | None, given: str) -> bool:
    """True when the tenant is open (no digest stored) or `given` is its key; constant time, so
    the answer's timing tells nothing about the digest."""
    if stored_digest is None:
        return True
    return hmac.compare_digest(api_key_digest(given).encode(), stored_digest)
