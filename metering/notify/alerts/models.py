"""Alert rules (thresholds per customer or per plan) and the firings that make them fire once.

A firing row is unique per (rule, customer, period): the evaluation inserts it in the same
transaction as the `alert.triggered` event, so however often and by however many workers a
period is evaluated, each crossing is reported exactly once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import Amount, BigIntKey, UTCDateTime, utcnow


class AlertKind(StrEnum):
    """spend: the period's total in the plan currency; outcome_count: billable outcomes (of
    one outcome, or all); maximum_percent: the total as a percent of the plan's maximum."""

    SPEND = "spend"
    OUTCOME_COUNT = "outcome_count"
    MAXIMUM_PERCENT = "maximum_percent"


# The firing kind of a plan's `maximum` with `on_reach` (not a rule a vendor makes).
MAXIMUM_REACHED = "maximum_reached"


class AlertRule(SQLModel, table=True):
    """A threshold on one customer's periods, or on those of every subscriber of a plan."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        sa.Index("ix_alert_rules_vendor", "vendor_id", "id"),
        sa.CheckConstraint(
            "(customer_id IS NULL) <> (plan_id IS NULL)", name="ck_alert_rules_one_scope"
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str | None = Field(default=None, foreign_key="customers.id", max_length=40)
    plan_id: str | None = Field(default=None, foreign_key="plans.id", max_length=40)
    kind: str = Field(max_length=30)
    threshold: Decimal = Field(sa_type=Amount)
    outcome: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Deleted rules are kept (their firings name them) but no longer evaluated or listed.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class AlertFiring(SQLModel, table=True):
    """A rule crossed for a customer's period; `rule_key` is the rule id or `maximum_reached`."""

    __tablename__ = "alert_firings"
    __table_args__ = (
        sa.UniqueConstraint(
            "rule_key", "customer_id", "period_start", name="uq_alert_firings_once"
        ),
        sa.Index("ix_alert_firings_vendor", "vendor_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    rule_key: str = Field(max_length=40)
    rule_id: str | None = Field(default=None, foreign_key="alert_rules.id", max_length=40)
    kind: str = Field(max_length=30)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    period_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    period_end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    figure: Decimal = Field(sa_type=Amount)
    threshold: Decimal = Field(sa_type=Amount)
    fired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
