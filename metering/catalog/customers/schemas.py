"""API shapes of customers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from metering.catalog.customers.models import CollectionMethod, PaymentProviderName
from metering.catalog.customers.tax_details import Address, TaxIds
from metering.catalog.subscriptions.schemas import SUBSCRIPTION_EXAMPLE, SubscriptionOut
from metering.platform.web.format import parse_locale
from pricing_rules.periods import Timezone

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
StripeCustomerId = Annotated[
    str, StringConstraints(pattern=r"^cus_[A-Za-z0-9]{1,96}$", strip_whitespace=True)
]


def _threshold(value: str) -> str:
    """A decimal string at or above zero (the settled amount of an interim invoice)."""
    if Decimal(value) < 0:
        raise ValueError('must not be below zero; expected an amount such as "5000.00"')
    return value


ThresholdText = Annotated[
    str,
    StringConstraints(pattern=r"^[+-]?[0-9]{1,20}(\.[0-9]{1,12})?$", strip_whitespace=True),
    AfterValidator(_threshold),
]
"""Threshold invoicing's amount, as a decimal string ("5000.00")."""

# How the billing portal formats amounts and dates for the customer: en_US, de_DE, fr_FR...
Locale = Annotated[str, StringConstraints(max_length=20), AfterValidator(parse_locale)]


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
    locale: Locale = Field(
        default="en_US", description="How the billing portal formats amounts and dates."
    )
    collection_method: CollectionMethod = Field(
        default=CollectionMethod.CHARGE_AUTOMATICALLY,
        description="How Stripe collects its invoices: charge the saved payment method, or "
        "send the invoice to be paid within `days_until_due`.",
    )
    days_until_due: int = Field(default=30, ge=1, le=365)
    payment_provider: PaymentProviderName | None = Field(
        default=None,
        description="Who collects its invoices: `stripe`, or `manual` (the invoice is sent and "
        "its payments are recorded through `POST /v1/invoices/{id}/payments`). Omitted: "
        "`stripe` when the service has a Stripe key, else `manual`. Each invoice keeps the "
        "provider it was issued with.",
    )
    stripe_customer_id: StripeCustomerId | None = Field(
        default=None,
        description="An existing Stripe customer (`cus_...`) to collect through: checked to "
        "exist in Stripe (422 when it does not), and used by the sync instead of making one. "
        "Its payment methods are what Stripe charges.",
    )
    address: Address | None = Field(
        default=None,
        description="Its billing address: where tax is computed, when the vendor has a tax "
        "provider (`country` decides), sent with its customer at the payment provider.",
    )
    tax_ids: TaxIds | None = Field(
        default=None, description="Its tax ids (eu_vat, gb_vat, us_ein...), checked for shape."
    )


class CustomerUpdate(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Acme Corporation"}]}
    )

    name: Name | None = None
    email: Email | None = None
    timezone: Timezone | None = None
    locale: Locale | None = None
    collection_method: CollectionMethod | None = None
    days_until_due: int | None = Field(default=None, ge=1, le=365)
    payment_provider: PaymentProviderName | None = Field(
        default=None,
        description="For the invoices issued from now on; issued ones keep theirs.",
    )
    stripe_customer_id: StripeCustomerId | None = Field(
        default=None,
        description="Link an existing Stripe customer (checked to exist); refused while one "
        "of the customer's invoices is being made in Stripe under another.",
    )
    address: Address | None = Field(default=None, description="Replaces the address.")
    tax_ids: TaxIds | None = Field(default=None, description="Replaces the tax ids.")
    invoice_at: ThresholdText | None = Field(
        default=None,
        description="Threshold invoicing: an interim invoice once the open period's settled "
        "amount reaches this, over the plan's `billing.invoice_at`; null goes back to the "
        "plan's.",
    )


class CustomerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "cus_01m8y51h6wnk2mcpywvn5sm0n5",
                    "external_id": "acme",
                    "name": "Acme Corp",
                    "email": "billing@acme.test",
                    "timezone": "Europe/Paris",
                    "locale": "fr_FR",
                    "status": "provisioned",
                    "plan_id": "pln_01m8y51h4x1mnd2xf51bcj0341",
                    "plan": "support-agent",
                    "subscription": SUBSCRIPTION_EXAMPLE,
                    "pending_change": None,
                    "collection_method": "charge_automatically",
                    "days_until_due": 30,
                    "payment_provider": "stripe",
                    "created_at": "2026-11-02T09:15:00Z",
                    "updated_at": "2026-11-02T09:15:00Z",
                }
            ]
        }
    )

    id: str
    external_id: str
    name: str | None
    email: str | None
    timezone: str
    locale: str
    status: str = Field(description="`unprovisioned`: first seen in an event, not yet created.")
    plan_id: str | None = Field(description="The plan of the subscription in force now.")
    plan: str | None = Field(description="That plan's slug.")
    subscription: SubscriptionOut | None = Field(description="The subscription in force now.")
    pending_change: SubscriptionOut | None = Field(
        description="The subscription that starts next (a plan change not yet in force)."
    )
    collection_method: str
    days_until_due: int
    payment_provider: str = Field(description="stripe | manual: who collects its invoices.")
    stripe_customer_id: str | None = Field(
        default=None,
        description="Its Stripe customer: linked through the API, or made by the sync.",
    )
    address: dict[str, str] | None = None
    tax_ids: list[dict[str, str]] | None = None
    invoice_at: str | None = Field(
        default=None, description="Its own threshold for interim invoices (null: the plan's)."
    )
    created_at: datetime
    updated_at: datetime
