"""API shapes of customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pricing_rules.periods import Timezone

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]


class CustomerCreate(BaseModel):
    """A customer, known by the id the vendor uses for it in events (`customer`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "external_id": "acme",
                    "name": "Acme Corp",
                    "email": "billing@acme.test",
                    "timezone": "Europe/Paris",
                }
            ]
        },
    )

    external_id: ExternalId
    name: Name | None = None
    email: Email | None = None
    timezone: Timezone = "UTC"


class CustomerUpdate(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Acme Corporation"}]}
    )

    name: Name | None = None
    email: Email | None = None
    timezone: Timezone | None = None


class PlanAttach(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"plan": "support-agent"}]}
    )

    plan: str = Field(min_length=1, description="The plan's slug or id.")
    version: int | None = Field(
        default=None, ge=1, description="A version that must exist; the latest by default."
    )


class CustomerOut(BaseModel):
    id: str
    external_id: str
    name: str | None
    email: str | None
    timezone: str
    status: str = Field(description="`unprovisioned`: first seen in an event, not yet created.")
    plan_id: str | None
    plan: str | None = Field(description="The attached plan's slug.")
    created_at: datetime
    updated_at: datetime
