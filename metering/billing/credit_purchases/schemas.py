"""API shapes of a customer's automatic top-up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.billing.credits.schemas import SignedMoneyText

_EXAMPLE: dict[str, Any] = {"below": "20.00", "amount": "100.00", "price": "100.00"}


class AutoTopUpSet(BaseModel):
    """Buy `amount` of paid credits for `price` whenever the balance after the open period's
    projected draw drops below `below` (once per drop)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    below: SignedMoneyText = Field(description="The threshold, in the grant's currency.")
    amount: SignedMoneyText = Field(description="The credits bought each time.")
    price: SignedMoneyText = Field(description="What the customer pays for them.")
    currency: str | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="Default: the customer's only billing currency.",
    )


class AutoTopUpOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "cus_01jd3k2m8n4p6q8r0s2t4v6w8y",
                    "currency": "usd",
                    "below": "20.00",
                    "amount": "100.00",
                    "price": "100.00",
                    "armed": True,
                    "crossings": 0,
                    "checked_at": None,
                    "updated_at": "2026-12-01T09:30:00Z",
                }
            ]
        }
    )

    customer_id: str
    currency: str
    below: str
    amount: str
    price: str
    armed: bool = Field(
        description="False from a drop below the threshold until the balance is back above "
        "it, or until the purchase it made fails for good (voided, or uncollectible)."
    )
    crossings: int = Field(
        description="How many purchases the top-up has made: one per drop, and one more "
        "after each purchase that failed for good."
    )
    checked_at: datetime | None
    updated_at: datetime


class PortalAmounts(BaseModel):
    """What a customer may buy at once in one currency, both ends included."""

    model_config = ConfigDict(extra="forbid")

    minimum: SignedMoneyText = Field(description="Above zero ('10.00').")
    maximum: SignedMoneyText = Field(description="At or above `minimum` ('500.00').")


_PORTAL_EXAMPLE: dict[str, Any] = {
    "enabled": True,
    "amounts": {"usd": {"minimum": "10.00", "maximum": "500.00"}},
}


class PortalPurchases(BaseModel):
    """Whether customers may buy paid credits in the portal, and how much at once per
    currency. Credits bought there cost their face value; the customer picks the amount,
    the engine issues its purchase invoice and the grant is usable once it is paid."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PORTAL_EXAMPLE]})

    enabled: bool = Field(False, description="Off by default: the portal sells no credits.")
    amounts: dict[str, PortalAmounts] = Field(
        default_factory=dict,
        description="By currency (lower case); a customer billed in a currency not listed "
        "cannot buy credits in the portal. At least one when `enabled`.",
    )
