"""Each customer's automatic top-up of paid credits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel import Field, SQLModel

from metering.platform.db.types import Amount, UTCDateTime, utcnow


class AutoTopUp(SQLModel, table=True):
    """A customer's automatic top-up: when `available_after_projection` in `currency` drops
    below `below`, a grant of `amount` is bought for `price`. `crossing` counts the
    purchases (the n-th one's grant has `auto_top_up_crossing: n` in its metadata); `armed`
    is False from a drop until the balance is back at or above `below`, so one drop buys
    once, or until that purchase fails for good (`activation.rearm`), so the next check buys
    again as crossing n+1."""

    __tablename__ = "credit_auto_top_ups"

    customer_id: str = Field(foreign_key="customers.id", primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    currency: str = Field(max_length=3)
    below: Decimal = Field(sa_type=Amount)
    amount: Decimal = Field(sa_type=Amount)
    price: Decimal = Field(sa_type=Amount)
    armed: bool = Field(default=True)
    crossing: int = Field(default=0)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
