"""API shapes of invoices, their lines, the outcomes behind a line and the upcoming invoice.

Amounts are decimal strings in major units with the currency's minor digits ("12.50"), and
quantities decimal strings ("12.5"), so no client ever reads money through a float.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.billing.payments.schemas import PAYMENT_OUT_EXAMPLE, PaymentError, PaymentOut

_INVOICE_EXAMPLE: dict[str, Any] = {
    "id": "inv_01jd3k2m8n4p6q8r0s2t4v6w8y",
    "number": 42,
    "customer_id": "cus_01jd3k2m8n4p6q8r0s2t4v6w8y",
    "subscription_id": "sub_01jd3k2m8n4p6q8r0s2t4v6w8y",
    "plan_version_id": "plv_01jd3k2m8n4p6q8r0s2t4v6w8y",
    "status": "issued",
    "currency": "usd",
    "period_start": "2026-10-01T00:00:00Z",
    "period_end": "2026-11-01T00:00:00Z",
    "as_of": "2026-11-04T00:00:00Z",
    "total": "524.21",
    "collection_method": "charge_automatically",
    "due_at": None,
    "issued_at": "2026-11-04T00:05:00Z",
    "paid_at": None,
    "voided_at": None,
    "sync_state": "finalized",
    "sync_error": None,
    "next_sync_at": None,
    "stripe_invoice_id": "in_1QabcXYZ",
    "stripe_hosted_url": None,
    "payment_provider": "stripe",
    "tax": None,
    "tax_lines": [],
    "total_with_tax": "524.21",
    "amount_paid": "0.00",
    "amount_due": "524.21",
    "payment_error": None,
}
_LINE_EXAMPLE: dict[str, Any] = {
    "id": "il_01jd3k2m8n4p6q8r0s2t4v6w8y",
    "position": 1,
    "kind": "charge",
    "charge_key": "charge:0:resolved_conversation",
    "description": "resolved_conversation (graduated)",
    "outcome": "resolved_conversation",
    "quantity": "120",
    "amount": "68.50",
    "detail": {
        "text": "120 units, 50 free, graduated",
        "tiers": [
            {
                "tier": 1,
                "first_unit": "1",
                "last_unit": "70",
                "units": "70",
                "unit_price": "0.99",
                "flat_price": None,
                "amount": "69.3",
            }
        ],
    },
    "period_start": "2026-10-01T00:00:00Z",
    "period_end": "2026-11-01T00:00:00Z",
    "corrects_invoice_id": None,
    "outcome_count": 120,
    "stripe_item_id": None,
}


class InvoiceLineOut(BaseModel):
    """One line: a charge, the minimum or cap, or a correction of an earlier period."""

    model_config = ConfigDict(json_schema_extra={"example": _LINE_EXAMPLE})

    id: str
    position: int
    kind: str = Field(description="charge | minimum | maximum | credit | adjustment")
    charge_key: str = Field(description="The rule-file charge this line prices.")
    description: str
    outcome: str | None
    quantity: str | None
    amount: str
    detail: dict[str, Any] = Field(description="How the amount came about; tiers when tiered.")
    period_start: datetime = Field(description="The period this line prices or corrects.")
    period_end: datetime
    corrects_invoice_id: str | None = Field(
        description="credit and adjustment lines: the invoice of the period they correct."
    )
    outcome_count: int = Field(description="Outcome rows behind the line (see its outcomes).")
    stripe_item_id: str | None


class TaxLineOut(BaseModel):
    description: str = Field(description="As the provider names it, such as `VAT (DE)`.")
    rate: str | None = Field(description="Percent, such as `19`.")
    amount: str


class InvoiceOut(BaseModel):
    """An invoice without its lines (as listed)."""

    model_config = ConfigDict(json_schema_extra={"example": _INVOICE_EXAMPLE})

    id: str
    number: int | None = Field(description="Gapless per vendor, given when issued.")
    customer_id: str
    subscription_id: str
    plan_version_id: str
    status: str = Field(description="draft | issued | paid | payment_failed | void")
    currency: str
    period_start: datetime
    period_end: datetime
    as_of: datetime = Field(description="Outcomes settled by this instant are billed.")
    total: str
    collection_method: str
    due_at: datetime | None
    issued_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    sync_state: str = Field(description="How far the invoice has got in Stripe.")
    sync_error: str | None = Field(description="The last Stripe error, kept until it clears.")
    next_sync_at: datetime | None
    stripe_invoice_id: str | None
    stripe_hosted_url: str | None
    payment_provider: str | None = Field(
        description="Who collects it (stripe | manual): its customer's provider when it was "
        "issued, fixed for the invoice's life."
    )
    tax: str | None = Field(
        default=None,
        description="The tax its payment provider computed (vendors with a tax provider, "
        "once the invoice is final there); null: no tax. `total` stays the subtotal we priced.",
    )
    tax_lines: list[TaxLineOut] = Field(default_factory=list)
    total_with_tax: str = Field(description="What the customer pays: `total` plus `tax`.")
    amount_paid: str = Field(
        description="Paid so far: the total with tax once paid, else the payments recorded through "
        "`POST /v1/invoices/{id}/payments`."
    )
    amount_due: str = Field(description="What is left to pay; 0 once paid or void.")
    payment_error: PaymentError | None = Field(
        description="While the invoice is payment_failed: why, in plain words, and when the "
        "payment is tried again."
    )


class InvoiceDetail(InvoiceOut):
    """An invoice with its lines and the payments recorded for it."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {**_INVOICE_EXAMPLE, "lines": [_LINE_EXAMPLE], "payments": []}
        }
    )

    lines: list[InvoiceLineOut]
    payments: list[PaymentOut] = Field(
        description="Payments received outside the provider, oldest first."
    )


class PaymentRecorded(BaseModel):
    """The payment recorded (or found: the same reference was recorded before) and the
    invoice as it is now."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment": PAYMENT_OUT_EXAMPLE,
                    "invoice": {
                        **_INVOICE_EXAMPLE,
                        "status": "paid",
                        "amount_paid": "524.21",
                        "amount_due": "0.00",
                    },
                }
            ]
        }
    )

    payment: PaymentOut
    invoice: InvoiceOut


class LineOutcomeOut(BaseModel):
    """An outcome row a line counted (or, for a credit, took back), with its event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1187,
                    "event_id": "evt_101",
                    "outcome": "resolved_conversation",
                    "state": "counted",
                    "occurred_at": "2026-10-14T09:30:00Z",
                    "settles_at": "2026-10-17T09:30:00Z",
                    "dedupe_key": "c-42",
                    "value": None,
                }
            ]
        }
    )

    id: int
    event_id: str
    outcome: str
    state: str = Field(description="What the row is now: counted, reversed, voided, ...")
    occurred_at: datetime
    settles_at: datetime
    dedupe_key: str
    value: str | None


class UpcomingLine(BaseModel):
    kind: str
    charge_key: str
    description: str
    outcome: str | None
    quantity: str | None
    amount: str
    detail: dict[str, Any]
    period_start: datetime
    period_end: datetime
    corrects_invoice_id: str | None
    outcome_count: int


class PendingOutcomes(BaseModel):
    """Outcomes counted but not settled yet: billable once their settle window passes."""

    outcome: str
    count: int
    next_settles_at: datetime


class UpcomingInvoice(BaseModel):
    """The current period priced as of now: what the next invoice says so far."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": _INVOICE_EXAMPLE["customer_id"],
                    "subscription_id": _INVOICE_EXAMPLE["subscription_id"],
                    "plan_version_id": _INVOICE_EXAMPLE["plan_version_id"],
                    "currency": "usd",
                    "period_start": "2026-11-01T00:00:00Z",
                    "period_end": "2026-12-01T00:00:00Z",
                    "as_of": "2026-11-20T12:00:00Z",
                    "closes_at": "2026-12-04T00:00:00Z",
                    "lines": [
                        {
                            "kind": "charge",
                            "charge_key": "charge:0:resolved_conversation",
                            "description": "resolved_conversation (per_unit)",
                            "outcome": "resolved_conversation",
                            "quantity": "40",
                            "amount": "39.60",
                            "detail": {"text": "40 units, at 0.99"},
                            "period_start": "2026-11-01T00:00:00Z",
                            "period_end": "2026-12-01T00:00:00Z",
                            "corrects_invoice_id": None,
                            "outcome_count": 40,
                        }
                    ],
                    "corrections": [],
                    "pending": [
                        {
                            "outcome": "resolved_conversation",
                            "count": 3,
                            "next_settles_at": "2026-11-21T08:00:00Z",
                        }
                    ],
                    "total": "39.60",
                }
            ]
        }
    )

    customer_id: str
    subscription_id: str
    plan_version_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    as_of: datetime
    closes_at: datetime = Field(description="When the period closes and is invoiced.")
    lines: list[UpcomingLine]
    corrections: list[UpcomingLine] = Field(
        description="Credits and adjustments of earlier periods the next close would add."
    )
    credits: list[UpcomingLine] = Field(
        default_factory=list,
        description="What the customer's prepaid credit grants would pay (kind `credits`, "
        "negative) or get back (positive) if the period closed now.",
    )
    pending: list[PendingOutcomes]
    total: str = Field(description="Sum of the lines, corrections and credits.")
