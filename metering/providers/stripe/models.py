"""Stripe webhook deliveries already applied, so a repeated delivery does nothing."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class StripeEventSeen(SQLModel, table=True):
    __tablename__ = "stripe_events"

    id: str = Field(primary_key=True, max_length=100)
    type: str = Field(max_length=100)
    stripe_invoice_id: str | None = Field(default=None, max_length=100)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
