"""API shapes of payments received outside a provider, why a payment failed, and the
vendor's retry schedule."""

from __future__ import annotations

from datetime import date, datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from metering.billing.payments.models import PaymentMethodKind

MoneyText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,20}(\.[0-9]{1,12})?$", strip_whitespace=True)
]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]

_PAYMENT_EXAMPLE: dict[str, Any] = {
    "amount": "250.00",
    "paid_on": "2026-11-20",
    "reference": "TRX-2026-11-20-0042",
    "method": "bank_transfer",
}


class PaymentCreate(BaseModel):
    """A payment received outside the payment provider. `reference` (the bank transfer's
    reference, the cheque's number) names it: sending the same payment again records it
    once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PAYMENT_EXAMPLE]})

    amount: MoneyText = Field(
        description="In major units with at most the currency's minor digits ('250.00'); "
        "above zero and at most the amount due."
    )
    paid_on: date = Field(description="The day the money arrived (not in the future).")
    reference: Reference
    method: PaymentMethodKind = PaymentMethodKind.BANK_TRANSFER


PAYMENT_OUT_EXAMPLE: dict[str, Any] = {
    "id": "pay_01jd3k2m8n4p6q8r0s2t4v6w8y",
    "invoice_id": "inv_01jd3k2m8n4p6q8r0s2t4v6w8y",
    **_PAYMENT_EXAMPLE,
    "currency": "usd",
    "created_at": "2026-11-21T09:12:00Z",
}


class PaymentOut(BaseModel):
    """A payment recorded against an invoice."""

    model_config = ConfigDict(json_schema_extra={"example": PAYMENT_OUT_EXAMPLE})

    id: str
    invoice_id: str
    amount: str
    currency: str
    paid_on: date
    reference: str
    method: str
    created_at: datetime


class PaymentError(BaseModel):
    """Why the invoice's payment failed, and what happens next."""

    code: str = Field(
        description="no_payment_method | card_declined | insufficient_funds | "
        "authentication_required | expired_card | payment_failed (another reason)"
    )
    message: str = Field(description="The reason in plain words.")
    failed_payments: int = Field(description="Failed payment attempts so far.")
    first_failed_at: datetime | None
    next_retry_at: datetime | None = Field(
        description="When the payment is tried again; null when no retry is scheduled."
    )
    uncollectible_at: datetime | None = Field(
        description="When the last scheduled retry failed (`invoice.uncollectible`); a new "
        "payment method still retries it."
    )


def _ascending(days: list[int]) -> list[int]:
    if any(later <= earlier for earlier, later in pairwise(days)):
        raise ValueError("retry days must be in ascending order, each day once")
    return days


# Days (1 to 90) after the first failed payment on which it is tried again, ascending.
RetrySchedule = Annotated[
    list[Annotated[int, Field(ge=1, le=90)]], Field(max_length=10), AfterValidator(_ascending)
]


class DunningSettings(BaseModel):
    """When a failed payment is tried again: days after the first failure."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"retry_days": [3, 5, 7], "default": True}]}
    )

    retry_days: RetrySchedule = Field(
        description="Ascending days (1 to 90) after the first failed payment on which it is "
        "tried again; [] never retries (the first failure makes the invoice uncollectible)."
    )
    default: bool = Field(description="Whether this is the default schedule (3, 5 and 7 days).")


class DunningSettingsUpdate(BaseModel):
    """A new schedule; `retry_days: null` returns to the default (3, 5 and 7 days)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"retry_days": [2, 4, 8, 15]}]}
    )

    retry_days: RetrySchedule | None


class TaxSettings(BaseModel):
    """Who computes tax on the vendor's invoices: `stripe` (Stripe Tax, from each customer's
    address), or null: no tax is computed and invoices are as priced."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"provider": "stripe"}]}
    )

    provider: Literal["stripe"] | None = Field(
        description="stripe: Stripe Tax computes tax on each Stripe invoice (`automatic_tax`); "
        "our invoice keeps the tax lines and the total with tax Stripe computed. null: none."
    )
