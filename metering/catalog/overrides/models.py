"""Per-customer price books: override documents as written, numbered per customer."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime, utcnow


class CustomerOverride(SQLModel, table=True):
    """One version of a customer's override; never updated, like a plan version.

    `plan_version_id` is the version it made (the base with the override applied), which
    the customer's subscription is put on from `effective_from`.
    """

    __tablename__ = "customer_overrides"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "version", name="uq_customer_overrides_version"),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    version: int
    document: str = Field(sa_type=sa.Text)
    base_version_id: str = Field(foreign_key="plan_versions.id", max_length=40)
    plan_version_id: str = Field(foreign_key="plan_versions.id", max_length=40)
    effective: str = Field(max_length=20)
    effective_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
