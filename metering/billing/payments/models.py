"""What a payment provider holds for our invoices, lines and customers, whatever the provider,
and the payments received outside any provider.

An issued invoice has one payment link: which provider collects it (its customer's provider,
fixed when the invoice is issued), the provider's id and hosted page, how far the sync has
got (`step`), the worker lease, the retry state and the dunning state of a failed payment.
Lines and customers have the provider's id of their copy.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import Amount, UTCDateTime, utcnow


class SyncState(StrEnum):
    """How far the invoice has got at its provider; each step is persisted before the next."""

    NOT_STARTED = "not_started"
    CUSTOMER_SYNCED = "customer_synced"
    INVOICE_CREATED = "invoice_created"
    ITEMS_CREATED = "items_created"
    FINALIZED = "finalized"
    PAID = "paid"
    FAILED = "failed"
    VOID = "void"


class InvoicePaymentLink(SQLModel, table=True):
    """An invoice at its payment provider, and the sync that takes it there.

    `attempts` counts consecutive failures (the backoff's exponent); `next_attempt_at` is
    when the sync is due (None: nothing to do until a webhook or an operator acts);
    `key_round` is part of every idempotency key the provider sends, bumped after each
    definite answer that failed (`payments.protocol`).

    Dunning (`payments.dunning`): `decline_code` says why the last payment failed (its
    provider's words are `error`), `first_failed_at` starts the retry schedule,
    `failed_payments` counts the failed attempts, `uncollectible_at` is when the last
    scheduled retry failed.
    """

    __tablename__ = "invoice_payment_links"
    __table_args__ = (
        sa.Index("ix_invoice_payment_links_due", "next_attempt_at"),
        # Webhooks find our invoice by the provider's id.
        sa.Index("uq_invoice_payment_links_external", "provider", "external_id", unique=True),
    )

    invoice_id: str = Field(foreign_key="invoices.id", primary_key=True, max_length=40)
    provider: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, max_length=100)
    hosted_url: str | None = Field(default=None, sa_type=sa.Text)
    step: str = Field(default=SyncState.NOT_STARTED.value, max_length=20)
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    error: str | None = Field(default=None, sa_type=sa.Text)
    key_round: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    decline_code: str | None = Field(default=None, max_length=40)
    first_failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    failed_payments: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    uncollectible_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # The tax the provider computed when it finalized the invoice (vendors with a tax provider
    # only; null: none computed): the total, and its lines [{description, rate, amount}].
    tax: Decimal | None = Field(default=None, sa_type=Amount)
    tax_lines: list[dict[str, str]] | None = Field(default=None, sa_type=sa.JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class InvoiceLinePaymentLink(SQLModel, table=True):
    """The provider's item for one of our invoice lines."""

    __tablename__ = "invoice_line_payment_links"

    line_id: str = Field(foreign_key="invoice_lines.id", primary_key=True, max_length=40)
    provider: str = Field(max_length=40)
    external_id: str = Field(max_length=100)


class CustomerPaymentLink(SQLModel, table=True):
    """The provider's customer for one of ours (made by the sync, or an existing one linked)."""

    __tablename__ = "customer_payment_links"

    customer_id: str = Field(foreign_key="customers.id", primary_key=True, max_length=40)
    provider: str = Field(primary_key=True, max_length=40)
    external_id: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PaymentMethodKind(StrEnum):
    """How a payment recorded through the API was made."""

    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"
    CASH = "cash"
    OTHER = "other"


class InvoicePayment(SQLModel, table=True):
    """Money received for an invoice outside its payment provider (a bank transfer, a
    cheque), recorded through the API. `reference` is unique per invoice: recording the same
    payment again finds it instead of counting it twice."""

    __tablename__ = "invoice_payments"
    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "reference", name="uq_invoice_payments_reference"),
    )

    id: str = Field(primary_key=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoices.id", max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    amount: Decimal = Field(sa_type=Amount)
    currency: str = Field(max_length=3)
    paid_on: date
    reference: str = Field(max_length=200)
    method: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
