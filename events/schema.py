"""The six event types of SPEC §1, as frozen pydantic models (the single source of the schema).

Validation is strict: a wrong JSON type is an error, never coerced, because a
coerced event would be projected with a meaning its producer did not send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SECONDS = 2**32 - 2  # projections store second + 1 as u32: 1970 … 2106
_US = timedelta(microseconds=1)


def parse_occurred_at(value: object) -> int:
    """Turn an RFC 3339 string with offset, or int unix seconds, into int microseconds."""
    if isinstance(value, bool):
        raise ValueError("must be an RFC 3339 string with offset or int unix seconds")
    if isinstance(value, int):
        micros = value * 1_000_000
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from exc
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"timestamp without offset: {value!r}")
        micros = (moment - EPOCH) // _US
    else:
        raise ValueError("must be an RFC 3339 string with offset or int unix seconds")
    if not 0 <= micros <= MAX_SECONDS * 1_000_000:
        raise ValueError("out of range (1970-01-01 … 2106-02-07)")
    return micros


OccurredAt = Annotated[
    int,
    BeforeValidator(parse_occurred_at),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time", "description": "RFC 3339 with offset"},
                {"type": "integer", "minimum": 0, "description": "unix seconds"},
            ]
        }
    ),
]
"""Microseconds since the epoch once validated; exact instants decide 'latest'."""

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TenantId = Annotated[int, Field(gt=0)]
Id = Annotated[int, Field(ge=-(2**63), lt=2**63)]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    event_id: EventId
    tenant_id: TenantId
    occurred_at: OccurredAt
    schema_version: int = 1

    @property
    def version(self) -> tuple[int, str]:
        """The order of 'latest': the instant, then the event id as a string."""
        return (self.occurred_at, self.event_id)


class EmployeeUpserted(_Event):
    type: Literal["employee-upserted"]
    employee_id: Id
    name: str
    department_ids: list[Id]
    userid: str | None
    avatar_mediaid: str | None


class CustomerAdded(_Event):
    type: Literal["customer-added"]
    employee_id: Id
    customer_id: Id
    industry_id: Id | None
    source_id: Id | None
    progress_id: Id | None
    tag_ids: list[Id]


ATTRIBUTES = ("industry_id", "source_id", "progress_id", "tag_ids")


class CustomerUpdated(_Event):
    type: Literal["customer-updated"]
    customer_id: Id
    industry_id: Id | None = None
    source_id: Id | None = None
    progress_id: Id | None = None
    tag_ids: list[Id] = Field(default_factory=list)

    def changes(self) -> dict[str, Any]:
        """The attributes this event carries: keys present replace, keys absent keep."""
        return {name: getattr(self, name) for name in ATTRIBUTES if name in self.model_fields_set}


class CustomerLost(_Event):
    type: Literal["customer-lost"]
    employee_id: Id
    customer_id: Id


class FollowRecorded(_Event):
    type: Literal["follow-recorded"]
    employee_id: Id
    customer_id: Id


class OpportunityCreated(_Event):
    type: Literal["opportunity-created"]
    employee_id: Id
    customer_id: Id
    opportunity_id: Id


CustomerEvent = CustomerAdded | CustomerUpdated | CustomerLost | FollowRecorded | OpportunityCreated
Event = EmployeeUpserted | CustomerEvent
EVENT_TYPES: tuple[type[_Event], ...] = (
    EmployeeUpserted,
    CustomerAdded,
    CustomerUpdated,
    CustomerLost,
    FollowRecorded,
    OpportunityCreated,
)
TYPE_NAMES: tuple[str, ...] = (
    "employee-upserted",
    "customer-added",
    "customer-updated",
    "customer-lost",
    "follow-recorded",
    "opportunity-created",
)

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="type")])


def record_key(event: Event) -> bytes:
    """The Kafka record key of SPEC §1: all events of one customer share a partition."""
    if isinstance(event, EmployeeUpserted):
        return f"{event.tenant_id}:employee:{event.employee_id}".encode()
    return f"{event.tenant_id}:{event.customer_id}".encode()
