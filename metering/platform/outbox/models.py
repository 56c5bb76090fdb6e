"""Outbound webhooks: the vendor's endpoints, one delivery per (endpoint, event), its attempts.

A delivery is written in the transaction that made its event (the outbox), keeps the exact
body it sends, and is retried until a 2xx or a day has passed, so a receiver that is down
loses nothing and sees the same `webhook-id` on every retry.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import BigIntKey, UTCDateTime, utcnow


class EventType(StrEnum):
    """What an endpoint may subscribe to."""

    ALERT_TRIGGERED = "alert.triggered"
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    INVOICE_UNCOLLECTIBLE = "invoice.uncollectible"
    OUTCOME_DISPUTED = "outcome.disputed"
    DISPUTE_RESOLVED = "dispute.resolved"
    CREDITS_GRANTED = "credits.granted"
    CREDITS_LOW = "credits.low"
    CREDITS_DEPLETED = "credits.depleted"
    CREDITS_EXPIRING = "credits.expiring"
    CREDITS_EXPIRED = "credits.expired"
    # An automatic top-up's purchase invoice was voided or became uncollectible: the top-up
    # is armed again, so the next check buys again.
    CREDITS_TOP_UP_FAILED = "credits.top_up_failed"
    # A limit of a customer's period (`maximum`, `spend_limit`, an outcome's `limit`) is
    # at its `warn_at` percent, or reached; each once per period.
    LIMIT_WARNING = "limit.warning"
    LIMIT_REACHED = "limit.reached"


class DeliveryStatus(StrEnum):
    """pending (due at `next_attempt_at`) -> delivered | failed (gave up after the retry window)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(SQLModel, table=True):
    """A URL of the vendor that receives the event types it subscribes to."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.Index("ix_webhook_endpoints_vendor", "vendor_id"),)

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    url: str = Field(sa_type=sa.Text)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    enabled: bool = Field(default=True)
    # Kept in clear: each delivery is signed with it (Standard Webhooks `whsec_...`).
    secret: str = Field(max_length=100)
    # After a rotation, deliveries are signed with the old secret too until this time.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint; `payload` is the exact body of every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_event"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_vendor", "vendor_id", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", max_length=40)
    event_id: str = Field(max_length=40)
    event_type: str = Field(max_length=60)
    payload: str = Field(sa_type=sa.Text)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=20)
    attempts: int = Field(default=0)
    # Due time of the next attempt; a claim moves it ahead by the lease, so a worker that
    # dies mid-attempt leaves the delivery due again once the lease has passed.
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    lease_owner: str | None = Field(default=None, max_length=80)
    # A failing delivery is retried until this time, then `failed` (a manual retry resets it).
    give_up_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: when, the answer (status code or connection error), how long."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (sa.Index("ix_webhook_attempts_delivery", "delivery_id"),)

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    delivery_id: str = Field(foreign_key="webhook_deliveries.id", max_length=40)
    attempted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status_code: int | None = Field(default=None)
    error: str | None = Field(default=None, sa_type=sa.Text)
    duration_ms: int
