"""A customer's subscriptions: one plan version over [starts_at, ends_at)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class Subscription(SQLModel, table=True):
    """The plan version in force for a customer between `starts_at` and `ends_at`.

    A customer's subscriptions never overlap. A plan change ends one subscription and
    starts the next at the same instant: the next period boundary, or now when asked (the
    period is then split in two, each priced by its own version). `billed_through` is the
    end of the last period closed for it; the next period to close starts there.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "starts_at", name="uq_subscriptions_customer_start"),
        sa.Index("ix_subscriptions_vendor", "vendor_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    plan_id: str = Field(foreign_key="plans.id", max_length=40)
    plan_version_id: str = Field(foreign_key="plan_versions.id", max_length=40)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    billed_through: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
