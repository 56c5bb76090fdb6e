"""Prepaid credit grants and their immutable ledger of balance changes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import Amount, UTCDateTime, utcnow


class GrantCategory(StrEnum):
    """`paid`: revenue collected in advance; `promotional`: a discount."""

    PAID = "paid"
    PROMOTIONAL = "promotional"


class GrantStatus(StrEnum):
    """pending_payment -> active (its purchase invoice paid) -> voided; active -> voided."""

    PENDING_PAYMENT = "pending_payment"
    ACTIVE = "active"
    VOIDED = "voided"


class EntryKind(StrEnum):
    """Why a grant's balance changed (`ledger` is the only writer of entries)."""

    GRANT = "grant"
    DRAWDOWN = "drawdown"
    EXPIRY = "expiry"
    VOID = "void"
    RESTORE = "restore"
    MANUAL_ADJUSTMENT = "manual_adjustment"


class CreditGrant(SQLModel, table=True):
    """An amount of money a customer may spend on its invoices.

    `remaining` is a cache of the sum of its ledger entries, written by `ledger` alone in the
    same statement batch as the entries; a grant pending payment has no entries yet (its
    `grant` entry is written when it becomes active).
    """

    __tablename__ = "credit_grants"
    __table_args__ = (
        sa.Index("ix_credit_grants_customer", "customer_id", "currency", "status"),
        # What an entry's one foreign key names (`CreditEntry`).
        sa.Index("uq_credit_grants_owner", "id", "customer_id", "vendor_id", unique=True),
        # Room on each page for a row's next version: a close updates thousands of balances,
        # which then stay on their page and leave the indexes alone (migration 0027).
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    currency: str = Field(max_length=3)
    amount: Decimal = Field(sa_type=Amount)
    category: str = Field(max_length=20)
    priority: int = Field(default=100)
    effective_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # Charge names of the plan it pays for; null: every line of the invoice.
    applies_to: list[str] | None = Field(default=None, sa_type=sa.JSON)
    name: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column("metadata", sa.JSON, nullable=False)
    )
    status: str = Field(default=GrantStatus.ACTIVE.value, max_length=20)
    purchase_invoice_id: str | None = Field(default=None, foreign_key="invoices.id", max_length=40)
    remaining: Decimal = Field(default=Decimal(0), sa_type=Amount)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # When the expiry job took what was left (null until then).
    expired_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CreditEntry(SQLModel, table=True):
    """One change of a grant's balance; never updated or deleted.

    `invoice_id`: the invoice that drew or restored it (or bought it); `period_start`/
    `period_end`: the period whose usage it paid for (a drawdown) or gave back (a restore).
    Its grant, customer and vendor are one foreign key: they must be the grant's (whose own
    keys check the customer and vendor), one check per entry where a close writes thousands.
    `invoice_id` has none: `ledger.record` takes it from the transaction that wrote or moved
    the invoice, invoices are never deleted, and `ledger.invariant_violations` checks it.
    """

    __tablename__ = "credit_entries"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["grant_id", "customer_id", "vendor_id"],
            ["credit_grants.id", "credit_grants.customer_id", "credit_grants.vendor_id"],
            name="fk_credit_entries_grant",
        ),
        sa.Index("ix_credit_entries_customer", "customer_id", "id"),
        sa.Index("ix_credit_entries_grant", "grant_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40)
    grant_id: str = Field(max_length=40)
    currency: str = Field(max_length=3)
    kind: str = Field(max_length=20)
    amount: Decimal = Field(sa_type=Amount)
    invoice_id: str | None = Field(default=None, max_length=40)
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
