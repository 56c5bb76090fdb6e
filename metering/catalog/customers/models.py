"""The vendor's customers, known by the vendor's own external id."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import Amount, UTCDateTime, utcnow


class CustomerStatus(StrEnum):
    """`unprovisioned`: created because an event named it before the vendor did."""

    PROVISIONED = "provisioned"
    UNPROVISIONED = "unprovisioned"


class CollectionMethod(StrEnum):
    """How a customer's invoices are collected: charged to its payment method, or sent."""

    CHARGE_AUTOMATICALLY = "charge_automatically"
    SEND_INVOICE = "send_invoice"


class PaymentProviderName(StrEnum):
    """Who collects a customer's invoices: Stripe, or the vendor itself (`manual`: the invoice
    is sent, and payments are recorded through the API). A new provider adds its name here."""

    STRIPE = "stripe"
    MANUAL = "manual"


class Customer(SQLModel, table=True):
    """One customer of a vendor; its subscriptions say which rules price its events."""

    __tablename__ = "customers"
    __table_args__ = (
        sa.UniqueConstraint("vendor_id", "external_id", name="uq_customers_vendor_external_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    external_id: str = Field(max_length=200)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    timezone: str = Field(default="UTC", max_length=64)
    # How the portal formats amounts and dates for this customer (a babel locale).
    locale: str = Field(
        default="en_US", max_length=20, sa_column_kwargs={"server_default": "en_US"}
    )
    status: str = Field(default=CustomerStatus.PROVISIONED.value, max_length=20)
    # How its invoices are collected: charge_automatically or send_invoice.
    collection_method: str = Field(
        default=CollectionMethod.CHARGE_AUTOMATICALLY.value,
        max_length=30,
        sa_column_kwargs={"server_default": "charge_automatically"},
    )
    days_until_due: int = Field(default=30, sa_column_kwargs={"server_default": "30"})
    # Who collects its invoices; each invoice keeps the provider it was issued with.
    payment_provider: str = Field(
        default=PaymentProviderName.STRIPE.value,
        max_length=40,
        sa_column_kwargs={"server_default": "stripe"},
    )
    # Its billing address ({line1, line2, city, postal_code, state, country}) and tax ids
    # ([{type, value}]): where tax is computed, sent with its customer at the provider.
    address: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)
    tax_ids: list[dict[str, str]] | None = Field(default=None, sa_type=sa.JSON)
    # Threshold invoicing: its own `billing.invoice_at` amount over the plan's (None: the plan's).
    invoice_at: Decimal | None = Field(default=None, sa_type=Amount, nullable=True)
    # The vendor's spend limit for this customer (`spend_limit`): it can only lower the
    # plan's maximum; `on_reach` as in the rule file (notify, stop_billing, block).
    spend_limit_amount: Decimal | None = Field(default=None, sa_type=Amount)
    spend_limit_on_reach: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
