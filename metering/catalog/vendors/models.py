"""Vendors, their API keys (hashed) and webhook signing secrets (rotatable)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class Vendor(SQLModel, table=True):
    """A company sending outcome events; every other object is scoped to one."""

    __tablename__ = "vendors"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    # Portal branding; null: the METERING_PORTAL_* settings (then the name above).
    portal_name: str | None = Field(default=None, max_length=200)
    portal_color: str | None = Field(default=None, max_length=7)
    # Days after a first failed payment on which it is tried again; null: the default schedule.
    payment_retry_days: list[int] | None = Field(default=None, sa_type=sa.JSON)
    # Who computes tax on its invoices (`stripe`: Stripe Tax); null: no tax is computed.
    tax_provider: str | None = Field(default=None, max_length=40)
    # Also write every accepted event to the ClickHouse event log (METERING_EVENTLOG_URL);
    # its cost-only events are then stored only there (metering/ledger/eventlog).
    eventlog: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Credits customers may buy in the portal: {"enabled": bool, "amounts": {currency:
    # {"minimum": "10.00", "maximum": "500.00"}}}, sold at face value; null: off
    # (metering/billing/credit_purchases/portal_offer.py).
    portal_credit_purchases: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    # Its customers may set, change or remove their own spend limit in the portal.
    customer_spend_limits: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ApiKey(SQLModel, table=True):
    """A bearer key; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", index=True, max_length=40)
    prefix: str = Field(max_length=40)
    hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SigningSecret(SQLModel, table=True):
    """A Standard Webhooks secret; `expires_at` null is the current one.

    Rotation sets the old secret's `expires_at` to now + the grace period, so senders
    still signing with it keep working until then.
    """

    __tablename__ = "signing_secrets"
    __table_args__ = (sa.Index("ix_signing_secrets_vendor_id", "vendor_id"),)

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    secret: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
