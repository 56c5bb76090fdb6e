"""API shapes of a vendor's credit notice settings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from metering.billing.payments.schemas import MoneyText


class CreditNoticeSettingsSet(BaseModel):
    """When `credits.low` and `credits.expiring` are sent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"low_below": {"usd": "50.00"}, "expiring_days": 7}]},
    )

    low_below: dict[str, MoneyText] = Field(
        default_factory=dict,
        description="Per currency: `credits.low` when a customer's available balance drops "
        "below it (none: never).",
    )
    expiring_days: int = Field(
        7, ge=1, le=365, description="`credits.expiring` this many days before a grant expires."
    )


class CreditNoticeSettingsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "low_below": {"usd": "50.00"},
                    "expiring_days": 7,
                    "updated_at": "2026-12-01T09:30:00Z",
                }
            ]
        }
    )

    low_below: dict[str, str]
    expiring_days: int
    updated_at: datetime | None
