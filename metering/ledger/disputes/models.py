"""Disputes: a customer's claim that an outcome was not one, and the vendor's answer.

A dispute names the outcome row it was filed on (`outcome_id`, kept as filed: rows are
derived again when plans change) and the outcome's stable key (customer, outcome, period,
dedupe key), which is what an accepted dispute credits. Disputes are never deleted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class DisputeStatus(StrEnum):
    """open -> accepted (the outcome is credited) | rejected by the vendor | withdrawn by the
    customer; closed once, for good (terminal: a key disputed again is a new dispute)."""

    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Dispute(SQLModel, table=True):
    """One dispute; at most one `open` dispute per outcome key."""

    __tablename__ = "disputes"
    __table_args__ = (
        sa.Index(
            "uq_disputes_open_key",
            "customer_id",
            "outcome",
            "period_start",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
        sa.Index("ix_disputes_key", "customer_id", "outcome", "period_start", "dedupe_key"),
        sa.Index("ix_disputes_vendor_status", "vendor_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    # The outcome row disputed, as it was at filing (no foreign key: rows are re-derived).
    outcome_id: int = Field(sa_type=sa.BigInteger)
    outcome: str = Field(max_length=200)
    period_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    dedupe_key: str = Field(sa_type=sa.Text)
    event_id: str = Field(max_length=200)
    reason: str = Field(sa_type=sa.Text)
    status: str = Field(default=DisputeStatus.OPEN.value, max_length=20)
    resolution_note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
