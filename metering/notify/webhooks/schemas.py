"""API shapes of webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from metering.platform.outbox.models import EventType

Description = Annotated[str, StringConstraints(max_length=500)]
EventTypes = Annotated[list[EventType], Field(min_length=1)]


ENDPOINT_EXAMPLE: dict[str, Any] = {
    "id": "we_01m8y51j95ekg5609j23jsccxc",
    "url": "https://billing.example.com/hooks/metering",
    "description": "finance alerts",
    "event_types": ["invoice.issued", "alert.triggered"],
    "enabled": True,
    "created_at": "2026-11-02T09:30:00Z",
    "updated_at": "2026-11-02T09:30:00Z",
}
DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "whd_01m8y5a0c1d2e3f4g5h6j7k8m9",
    "endpoint_id": "we_01m8y51j95ekg5609j23jsccxc",
    "event_id": "evt_01m8y5a0c1d2e3f4g5h6j7k8ma",
    "event_type": "invoice.issued",
    "status": "delivered",
    "attempt_count": 1,
    "next_attempt_at": None,
    "give_up_at": "2026-11-07T00:05:00Z",
    "last_error": None,
    "created_at": "2026-11-04T00:05:00Z",
    "delivered_at": "2026-11-04T00:05:01Z",
}


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
    model_config = ConfigDict(json_schema_extra={"examples": [ENDPOINT_EXAMPLE]})

    id: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    """Shown once, at creation and rotation: the secret is never listed again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**ENDPOINT_EXAMPLE, "secret": "whsec_zVUZgyNnM3pMcoffuwnkh08o1JdUprcANg6ElKbJ8SI="}
            ]
        }
    )

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
    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **DELIVERY_EXAMPLE,
                    "payload": {
                        "id": "evt_01m8y5a0c1d2e3f4g5h6j7k8ma",
                        "type": "invoice.issued",
                        "timestamp": "2026-11-04T00:05:00Z",
                        "data": {
                            "invoice": "inv_01jd3k2m8n4p6q8r0s2t4v6w8y",
                            "number": 42,
                            "status": "issued",
                            "customer": {
                                "id": "cus_01m8y51h6wnk2mcpywvn5sm0n5",
                                "external_id": "acme",
                            },
                            "period": {
                                "start": "2026-10-01T00:00:00Z",
                                "end": "2026-11-01T00:00:00Z",
                            },
                            "total": "524.21",
                            "currency": "usd",
                        },
                    },
                    "attempts": [
                        {
                            "attempted_at": "2026-11-04T00:05:01Z",
                            "status_code": 200,
                            "error": None,
                            "duration_ms": 84,
                        }
                    ],
                }
            ]
        }
    )

    payload: dict[str, Any] = Field(description="The body every attempt sends.")
    attempts: list[AttemptOut] = Field(description="Every attempt, oldest first.")
