"""The six event types of SPEC §1, as frozen pydantic models (the single source of the schema).

Validation is strict: a wrong JSON type is an error, never coerced, because a
coerced event would be projected with a meaning its producer did not send.
"""

from __future__ import annotations

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

from events.timestamps import MAX_SECONDS as MAX_SECONDS  # re-exported
from events.timestamps import RFC3339
from events.timestamps import parse_occurred_at as parse_occurred_at  # re-exported

MAX_RECORD_BYTES = 64 * 1024
"""SPEC §1: a record value of at most 64 KiB; a bigger one is poison before it is parsed."""
MAX_LIST = 100
"""SPEC §1: at most 100 entries in `tag_ids` and in `department_ids`."""
MAX_TEXT = 255
"""SPEC §1: at most 255 characters in `name`, `userid` and `avatar_mediaid`."""
MAX_EVENT_ID = 128
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
YEARS = r"(19(69|[7-9][0-9])|20[0-9]{2}|210[0-6])"
"""The years a valid occurred_at string can spell (1969 with a negative offset, up to 2106)."""
END = r"(?![\s\S])"
"""End of string in every regex dialect; `$` also matches before a final newline in Python's."""

OccurredAt = Annotated[
    int,
    BeforeValidator(parse_occurred_at),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "format": "date-time",
                    "pattern": f"^{RFC3339.replace('[0-9]{4}', YEARS, 1)}{END}",
                    "description": "RFC 3339 with offset",
                },
                {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_SECONDS,
                    "description": "unix seconds",
                },
            ]
        }
    ),
]
"""Microseconds since the epoch once validated; exact instants decide 'latest'."""

EventId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT_ID)]
TenantId = Annotated[int, Field(ge=1, le=INT64_MAX)]
Id = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Ids = Annotated[list[Id], Field(max_length=MAX_LIST)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


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
    name: Text
    department_ids: Ids
    userid: Text | None
    avatar_mediaid: Text | None


class CustomerAdded(_Event):
    type: Literal["customer-added"]
    employee_id: Id
    customer_id: Id
    industry_id: Id | None
    source_id: Id | None
    progress_id: Id | None
    tag_ids: Ids


ATTRIBUTES = ("industry_id", "source_id", "progress_id", "tag_ids")


class CustomerUpdated(_Event):
    type: Literal["customer-updated"]
    customer_id: Id
    industry_id: Id | None = None
    source_id: Id | None = None
    progress_id: Id | None = None
    tag_ids: Ids = Field(default_factory=list)

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
