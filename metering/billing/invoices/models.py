"""Invoices, their lines and per-vendor numbering."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.catalog.customers.models import CollectionMethod
from metering.platform.db.types import Amount, IdList, UTCDateTime, utcnow


# The moves between these, and their only writer: `lifecycle`.
class InvoiceStatus(StrEnum):
    """draft -> issued -> paid | payment_failed | void; payment_failed may still be paid."""

    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    VOID = "void"


class InvoiceKind(StrEnum):
    """`period`: a customer's invoice for one billing period (one per period); `credit_purchase`:
    a one-off invoice for prepaid credits, dated at its issue instant (`period_start` ==
    `period_end`), which the close and corrections never read."""

    PERIOD = "period"
    CREDIT_PURCHASE = "credit_purchase"
    INTERIM = "interim"
    """Threshold invoicing: what a period had settled when it reached the plan's
    `billing.invoice_at`, dated at that instant (`period_start` == `period_end` == `as_of`);
    its lines carry the period they price, and the period's own invoice bills the rest by
    difference (`metering.billing.invoices.thresholds`)."""


class LineKind(StrEnum):
    """`credit` and `adjustment` correct an earlier period; `credits` is a prepaid grant
    paying for (negative) or given back (positive) the lines of a period; `credit_purchase`
    sells prepaid credits; the rest price this one."""

    CHARGE = "charge"
    MINIMUM = "minimum"
    MAXIMUM = "maximum"
    CREDIT = "credit"
    ADJUSTMENT = "adjustment"
    CREDITS = "credits"
    CREDIT_PURCHASE = "credit_purchase"


class Invoice(SQLModel, table=True):
    """One customer's invoice for one period (or for a purchase of credits: `kind`); never
    edited once issued (only its status, which `lifecycle` alone writes). Its state at the
    payment provider is its payment link."""

    __tablename__ = "invoices"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "period_start", name="uq_invoices_customer_period"),
        sa.UniqueConstraint("vendor_id", "number", name="uq_invoices_vendor_number"),
        sa.Index("ix_invoices_vendor_status", "vendor_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    subscription_id: str = Field(foreign_key="subscriptions.id", max_length=40)
    plan_version_id: str = Field(foreign_key="plan_versions.id", max_length=40)
    number: int | None = Field(default=None)
    kind: str = Field(
        default=InvoiceKind.PERIOD.value,
        max_length=20,
        sa_column_kwargs={"server_default": InvoiceKind.PERIOD.value},
    )
    status: str = Field(default=InvoiceStatus.DRAFT.value, max_length=20)
    currency: str = Field(max_length=3)
    period_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    period_end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Outcomes count when settled at this instant (the close time).
    as_of: datetime = Field(sa_type=UTCDateTime, nullable=False)
    total: Decimal = Field(default=Decimal(0), sa_type=Amount)
    collection_method: str = Field(
        default=CollectionMethod.CHARGE_AUTOMATICALLY.value, max_length=30
    )
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class InvoiceLine(SQLModel, table=True):
    """One priced line and the outcome rows behind it.

    `charge_key` identifies the rule-file charge (or minimum/maximum) across invoices, so a
    correction can compare what a period is worth now with what its lines billed.
    `period_start`/`period_end` are the period the line prices: for a credit or adjustment,
    the earlier period it corrects, whose invoice is `corrects_invoice_id`.
    """

    __tablename__ = "invoice_lines"
    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_position"),
        sa.Index("ix_invoice_lines_corrects", "corrects_invoice_id"),
        sa.Index("ix_invoice_lines_customer_period", "customer_id", "period_start"),
    )

    id: str = Field(primary_key=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoices.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    position: int
    kind: str = Field(max_length=20)
    charge_key: str = Field(max_length=300)
    description: str = Field(sa_type=sa.Text)
    outcome: str | None = Field(default=None, max_length=200)
    period_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    period_end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    corrects_invoice_id: str | None = Field(default=None, foreign_key="invoices.id", max_length=40)
    quantity: Decimal | None = Field(default=None, sa_type=Amount)
    amount: Decimal = Field(sa_type=Amount)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # Outcome rows this line counted (credit lines: the ones it takes back).
    outcome_ids: list[int] = Field(default_factory=list, sa_type=IdList)


class InvoiceCounter(SQLModel, table=True):
    """The last invoice number issued per vendor; bumped in the issuing transaction (no gaps)."""

    __tablename__ = "invoice_counters"

    vendor_id: str = Field(foreign_key="vendors.id", primary_key=True, max_length=40)
    last_number: int = Field(default=0)
