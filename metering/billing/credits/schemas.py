"""API shapes of credit grants, their ledger and a customer's balance.

Amounts are decimal strings in major units with the currency's minor digits ("500.00").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from metering.billing.credits.models import GrantCategory

SignedMoneyText = Annotated[
    str,
    StringConstraints(pattern=r"^[+-]?[0-9]{1,20}(\.[0-9]{1,12})?$", strip_whitespace=True),
]

_GRANT_EXAMPLE: dict[str, Any] = {
    "amount": "500.00",
    "currency": "usd",
    "category": "paid",
    "priority": 100,
    "effective_at": "2026-11-01T00:00:00Z",
    "expires_at": "2027-11-01T00:00:00Z",
    "applies_to": None,
    "name": "Annual prepaid pack",
    "metadata": {"deal": "Q4-2026"},
}


class Purchase(BaseModel):
    """A paid grant bought through an invoice: usable once that invoice is paid."""

    model_config = ConfigDict(extra="forbid")

    price: SignedMoneyText = Field(description="What the customer pays for the grant.")
    effective: Literal["on_payment", "on_issue"] = "on_payment"


class GrantCreate(BaseModel):
    """A prepaid amount the customer's invoices draw from."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_GRANT_EXAMPLE]})

    amount: SignedMoneyText = Field(
        description="Above zero, with at most the currency's minor digits ('500.00')."
    )
    currency: str | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="A currency the customer is billed in; its plan's when omitted.",
    )
    category: GrantCategory = GrantCategory.PROMOTIONAL
    priority: int = Field(100, ge=0, le=1_000_000, description="Lower is used first.")
    effective_at: datetime | None = Field(
        None, description="From when it pays (may be in the past); now when omitted."
    )
    expires_at: datetime | None = Field(None, description="After effective_at; null: never.")
    applies_to: list[str] | None = Field(
        None,
        min_length=1,
        description="Charge names of the plan it pays for; null: every line of the invoice.",
    )
    name: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    purchase: Purchase | None = Field(
        None, description="Paid grants only: bought through an invoice, usable once paid."
    )


class GrantVoid(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Contract ended"}]}
    )

    reason: str | None = Field(None, max_length=500)


class AdjustmentCreate(BaseModel):
    """A manual change of a grant's balance (an operator's correction)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount": "-20.00", "reason": "Goodwill credit entered twice"}]
        },
    )

    amount: SignedMoneyText = Field(description="Signed; the balance never goes below zero.")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class GrantOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "crg_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "customer_id": "cus_01jd3k2m8n4p6q8r0s2t4v6w8y",
                **_GRANT_EXAMPLE,
                "status": "active",
                "remaining": "312.40",
                "purchase_invoice_id": None,
                "voided_at": None,
                "expired_at": None,
                "created_at": "2026-11-01T09:00:00Z",
            }
        }
    )

    id: str
    customer_id: str
    amount: str
    currency: str
    category: str
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    applies_to: list[str] | None
    name: str | None
    metadata: dict[str, Any]
    status: str = Field(description="pending_payment | active | voided")
    remaining: str = Field(description="The sum of its ledger entries.")
    purchase_invoice_id: str | None
    voided_at: datetime | None
    expired_at: datetime | None
    created_at: datetime


class EntryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "cle_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "grant_id": "crg_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "kind": "drawdown",
                "amount": "-187.60",
                "currency": "usd",
                "invoice_id": "inv_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "period_start": "2026-11-01T00:00:00Z",
                "period_end": "2026-12-01T00:00:00Z",
                "reason": None,
                "at": "2026-12-04T00:00:00Z",
            }
        }
    )

    id: str
    grant_id: str
    kind: str = Field(description="grant | drawdown | expiry | void | restore | manual_adjustment")
    amount: str = Field(description="Signed: what the grant's balance changed by.")
    currency: str
    invoice_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    reason: str | None
    at: datetime


class ExpiringGrant(BaseModel):
    grant_id: str
    name: str | None
    remaining: str
    expires_at: datetime


class CurrencyBalance(BaseModel):
    currency: str
    available: str = Field(description="The remaining amount of the active, effective grants.")
    projected_draw: str = Field(
        description="What the open period would draw if it closed now (live rating)."
    )
    available_after_projection: str
    expiring_soon: list[ExpiringGrant] = Field(description="Grants expiring in the next 30 days.")


class BalanceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "customer_id": "cus_01jd3k2m8n4p6q8r0s2t4v6w8y",
                "as_of": "2026-11-20T10:00:00Z",
                "balances": [
                    {
                        "currency": "usd",
                        "available": "312.40",
                        "projected_draw": "187.60",
                        "available_after_projection": "124.80",
                        "expiring_soon": [
                            {
                                "grant_id": "crg_01jd3k2m8n4p6q8r0s2t4v6w8y",
                                "name": "Launch promotion",
                                "remaining": "50.00",
                                "expires_at": "2026-12-01T00:00:00Z",
                            }
                        ],
                    }
                ],
            }
        }
    )

    customer_id: str
    as_of: datetime
    balances: list[CurrencyBalance]
