"""API shapes of subscriptions and plan changes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.platform.api.inputs import INT_MAX, Instant


class Effective(StrEnum):
    """When a plan change takes effect: at the end of the current period, or now (the
    current period is then split in two, each part priced by its own version)."""

    NEXT_PERIOD = "next_period"
    IMMEDIATELY = "immediately"


class ApplyMode(StrEnum):
    """What uploading a new version does to the plan's subscribers on older versions."""

    NEXT_PERIOD = "next_period"
    IMMEDIATELY = "immediately"
    NONE = "none"


SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": "sub_01m8y51h7rm2gayjbnkg38fm79",
    "plan_id": "pln_01m8y51h4x1mnd2xf51bcj0341",
    "plan": "support-agent",
    "version": 1,
    "plan_version_id": "plv_01m8y51h5jrcm33p1nt0vdzh3a",
    "starts_at": "2026-11-01T00:00:00Z",
    "ends_at": None,
    "billed_through": "2026-11-01T00:00:00Z",
    "created_at": "2026-11-02T09:15:00Z",
}


class PlanChange(BaseModel):
    """Subscribe a customer to a plan version, or change the version it is on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"plan": "support-agent"},
                {"plan": "support-agent", "version": 2, "effective": "immediately"},
                {"plan": "support-agent", "starts_at": "2026-10-01T00:00:00Z"},
            ]
        },
    )

    plan: str = Field(min_length=1, description="The plan's slug or id.")
    version: int | None = Field(
        default=None,
        ge=1,
        le=INT_MAX,
        description="A version that must exist; the latest by default.",
    )
    effective: Effective = Field(
        default=Effective.NEXT_PERIOD,
        description="For a change: `next_period` (at the end of the current period) or "
        "`immediately` (now; the current period is split). A first subscription starts at "
        "`starts_at`.",
    )
    starts_at: Instant | None = Field(
        default=None,
        description="Only for a first subscription: when it starts (may be in the past: "
        "stored events from then on are matched again). Default: the start of the plan's "
        "current period.",
    )


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})

    id: str
    plan_id: str
    plan: str = Field(description="The plan's slug.")
    version: int
    plan_version_id: str
    overridden: bool = Field(
        default=False,
        description="On the customer's own price book: `version` with its override "
        "(GET /v1/customers/{id}/overrides).",
    )
    starts_at: datetime
    ends_at: datetime | None = Field(description="Exclusive; null while it runs on.")
    billed_through: datetime | None = Field(description="End of the last period invoiced.")
    created_at: datetime
