"""What a vendor wants to hear about its customers' credits, and what was already said."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class NoticeKind(StrEnum):
    LOW = "low"
    DEPLETED = "depleted"
    EXPIRING = "expiring"
    EXPIRED = "expired"


class CreditNoticeSettings(SQLModel, table=True):
    """A vendor's thresholds: `low_below` per currency ({"usd": "50.00"}; none: no
    `credits.low`), and how many days before a grant expires `credits.expiring` is sent."""

    __tablename__ = "credit_notice_settings"

    vendor_id: str = Field(foreign_key="vendors.id", primary_key=True, max_length=40)
    low_below: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    expiring_days: int = Field(default=7)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CreditNotice(SQLModel, table=True):
    """A notice sent, once per edge: `subject` is the currency (low, depleted: the row is
    deleted when the balance is back above, so the next drop is told again) or the grant
    (expiring, expired: once for good)."""

    __tablename__ = "credit_notices"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "kind", "subject", name="uq_credit_notices_once"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    kind: str = Field(max_length=20)
    subject: str = Field(max_length=40)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
