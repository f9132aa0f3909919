"""Redis key names of one projection version: the only place that spells a key.

Every key starts with the deployment prefix and the projection version, so a
rebuild writes a namespace of its own; every per-tenant key carries the tenant as
a `{hash tag}`, so one tenant's keys share a Redis Cluster slot. A tenant rebuilt
on its own lives in its own version: `tenants` maps it there (`custstats rebuild
--tenant`), while deployment-wide keys (offsets, readiness) stay with `version`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def glob_escape(text: str) -> str:
    """`text` matched literally in a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


@dataclass(frozen=True, slots=True)
class Layout:
    prefix: str
    version: int
    overrides: tuple[tuple[int, int], ...] = ()
    """(tenant, version) pairs for tenants whose keys live in another version."""
    _roots: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def root(self) -> str:
        return f"{self.prefix}:v{self.version}"

    def version_of(self, tenant_id: int) -> int:
        for tenant, version in self.overrides:
            if tenant == tenant_id:
                return version
        return self.version

    @property
    def format_key(self) -> str:
        """The PROJECTION_FORMAT that wrote this version."""
        return f"{self.root}:format"

    @property
    def instance_key(self) -> str:
        """A random token written when a version is created: tells a version re-created after a
        flush from the one it replaced, so readers' caches cannot outlive their data."""
        return f"{self.root}:id"

    @property
    def ready_key(self) -> str:
        """Hash partition -> '1' once that partition was caught up; with `partitions` = count."""
        return f"{self.root}:ready"

    @property
    def fresh_key(self) -> str:
        """Hash of the version's freshness and completeness (fields in projector/control.py):
        `end:<p>` last end offset seen, `target:<p>` end offset when the version started being
        built from the log, `applied_at` unix ms of the last applied batch."""
        return f"{self.root}:fresh"

    @property
    def every_key(self) -> str:
        """SCAN pattern of every key of this version."""
        return f"{glob_escape(self.root)}:*"

    @property
    def tenant_keys_start(self) -> str:
        """What every per-tenant key of this version starts with (the others do not)."""
        return f"{self.root}:{{"

    def tenant_keys(self, tenant_id: int) -> str:
        """SCAN pattern of one tenant's keys in this version (overrides aside)."""
        return f"{glob_escape(f'{self.prefix}:v{self.version}:{{{tenant_id}}}')}:*"

    def tenant(self, tenant_id: int) -> str:
        root = self._roots.get(tenant_id)
        if root is None:
            root = f"{self.prefix}:v{self.version_of(tenant_id)}:{{{tenant_id}}}"
            if len(self._roots) < 100_000:
                self._roots[tenant_id] = root
        return root

    # projector state
    def customer(self, tenant_id: int, customer_id: int) -> str:
        return f"{self.tenant(tenant_id)}:c:{customer_id}"

    def profiles(self, tenant_id: int) -> str:
        """Hash employee_id -> profile; its fields are also the tenant's row set."""
        return f"{self.tenant(tenant_id)}:e"

    def employee_index(self, tenant_id: int) -> str:
        """Hash employee_id -> dense index: the employee's place in every counter blob."""
        return f"{self.tenant(tenant_id)}:ix"

    def named_employees(self, tenant_id: int) -> str:
        """Set of employee ids any applied event named: the tenant's rows."""
        return f"{self.tenant(tenant_id)}:n"

    def instance(self, tenant_id: int) -> str:
        """The creation token of the version holding this tenant (see `instance_key`)."""
        return f"{self.prefix}:v{self.version_of(tenant_id)}:id"

    def meta(self, tenant_id: int) -> str:
        return f"{self.tenant(tenant_id)}:meta"

    # `*` counters: blobs of i32 [employee index][kind]; maxima: blobs of u32 [employee index][2]
    def day(self, tenant_id: int, day: int) -> str:
        return f"{self.tenant(tenant_id)}:d:{day}"

    def month(self, tenant_id: int, month: int) -> str:
        return f"{self.tenant(tenant_id)}:m:{month}"

    def log(self, tenant_id: int, slice_: str, month: int) -> str:
        """A filter slice's month log, compacted (codec.compact): the base."""
        return f"{self.tenant(tenant_id)}:fl:{slice_}:{month}"

    def log_tail(self, tenant_id: int, slice_: str, month: int) -> str:
        """The records appended to a filter slice's month log since its last compaction."""
        return f"{self.tenant(tenant_id)}:ft:{slice_}:{month}"

    def total(self, tenant_id: int) -> str:
        return f"{self.tenant(tenant_id)}:a"

    def day_max(self, tenant_id: int, day: int) -> str:
        return f"{self.tenant(tenant_id)}:dx:{day}"

    def month_max(self, tenant_id: int, month: int) -> str:
        return f"{self.tenant(tenant_id)}:mx:{month}"

    def total_max(self, tenant_id: int) -> str:
        return f"{self.tenant(tenant_id)}:ax"

    # customer sets: who is in a filter slice, whom an employee has facts with (and when)
    def slice_members(self, tenant_id: int, slice_: str) -> str:
        return f"{self.tenant(tenant_id)}:cs:{slice_}"

    def employee_month_customers(self, tenant_id: int, employee_id: int, month: int) -> str:
        """Customers the employee had an ADDED or FOLLOW fact with in a local month (never
        shrinks): the only ones that can hold a row's latest date on a day of that month."""
        return f"{self.tenant(tenant_id)}:em:{employee_id}:{month}"

    # deployment-wide
    @property
    def tenants(self) -> str:
        return f"{self.root}:tenants"

    def offsets(self, topic: str) -> str:
        return f"{self.root}:offsets:{topic}"

    def dead_letters(self, topic: str) -> str:
        return f"{self.root}:dlq:{topic}"


@dataclass(frozen=True, slots=True)
class ControlLayout:
    """Keys that outlive projection versions: the control hash and operator settings."""

    prefix: str

    @property
    def key(self) -> str:
        """Hash: current (version answering), rebuild (version being built), next, progress."""
        return f"{self.prefix}:control"

    @property
    def format_keys(self) -> str:
        """SCAN pattern of the format key of every version."""
        return f"{glob_escape(self.prefix)}:v*:format"

    def version_of_format_key(self, key: bytes) -> int | None:
        match = re.match(rb"^" + re.escape(self.prefix.encode()) + rb":v(\d+):format$", key)
        return None if match is None else int(match.group(1))

    @property
    def rebuild_lock(self) -> str:
        return f"{self.prefix}:rebuild-lock"

    @property
    def registered_tenants(self) -> str:
        return f"{self.prefix}:cfg:tenants"

    def tenant_config(self, tenant_id: int) -> str:
        """Hash: opportunity (on/off/auto), api_key (sha256 hex)."""
        return f"{self.prefix}:cfg:{{{tenant_id}}}"
