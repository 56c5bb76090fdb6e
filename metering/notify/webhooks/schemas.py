"""API shapes of webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from metering.platform.outbox.models import EventType

Description = Annotated[str, StringConstraints(max_length=500)]
EventTypes = Annotated[list[EventType], Field(min_length=1)]


class EndpointCreate(BaseModel):
    """A URL that receives the listed event types, signed with its own secret."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://billing.example.com/hooks/metering",
                    "event_types": ["invoice.issued", "alert.triggered"],
                    "description": "finance alerts",
                }
            ]
        },
    )

    url: AnyHttpUrl
    event_types: EventTypes
    description: Description | None = None


class EndpointUpdate(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})

    url: AnyHttpUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    """Shown once, at creation and rotation: the secret is never listed again."""

    secret: str = Field(
        description="Standard Webhooks signing secret (`whsec_` + base64); verify each "
        "delivery's `webhook-signature` with it."
    )


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null on error.")
    error: str | None = Field(
        description="Connection error, timeout, or a destination refused by the address check "
        "(`refused: ...`), when there was no answer; for a redirect, where it pointed (never "
        "followed)."
    )
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str = Field(description="Sent as `webhook-id`, the same on every attempt.")
    event_type: str
    status: str = Field(description="pending, delivered or failed (gave up after the window).")
    attempt_count: int = Field(description="Attempts made so far.")
    next_attempt_at: datetime | None
    give_up_at: datetime = Field(description="Failing attempts are retried until this time.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="The body every attempt sends.")
    attempts: list[AttemptOut] = Field(description="Every attempt, oldest first.")
