"""Stored events (immutable apart from their derived status) and their voids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import BigIntKey, UTCDateTime, utcnow


class StoredEvent(SQLModel, table=True):
    """One event as received; `(vendor_id, event_id)` is the idempotency key.

    `status` is an `EventStatus` (`metering.ledger.states`), derived from its outcome rows.
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("vendor_id", "event_id", name="uq_events_vendor_event_id"),
        sa.Index("ix_events_vendor_customer_occurred", "vendor_id", "customer_id", "occurred_at"),
        sa.Index("ix_events_vendor_status", "vendor_id", "status"),
        sa.Index("ix_events_vendor_type", "vendor_id", "type"),
    )

    pk: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=200)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    customer_external_id: str = Field(max_length=200)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    properties: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    cost: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    content_hash: str = Field(max_length=64)
    status: str = Field(max_length=32)
    plan_version_id: str | None = Field(default=None, foreign_key="plan_versions.id", max_length=40)


class EventVoid(SQLModel, table=True):
    """Why and when an event was voided; the event itself stays for audit."""

    __tablename__ = "event_voids"

    event_pk: int = Field(sa_type=BigIntKey, foreign_key="events.pk", primary_key=True)
    reason: str = Field(sa_type=sa.Text)
    voided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
