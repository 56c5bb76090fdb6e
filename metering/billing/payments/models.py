"""What a payment provider holds for our invoices, lines and customers, whatever the provider.

An issued invoice has one payment link: which provider collects it (set when a provider first
takes it), the provider's id and hosted page, how far the sync has got (`step`), the worker
lease, and the retry state. Lines and customers have the provider's id of their copy.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


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
    when the sync is due (None: nothing to do until a webhook or an operator acts).
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
