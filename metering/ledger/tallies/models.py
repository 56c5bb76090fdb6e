"""Running tallies of counted outcomes: what the allowance check reads instead of rating."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import Amount, BigIntKey, UTCDateTime


class OutcomeTally(SQLModel, table=True):
    """Units and rows of one (customer, outcome, period, state, settle hour).

    Only `counted` and `over_limit` rows are tallied. `settles_by` is the row's settle time
    rounded up to the hour, so "settled by now" is a sum over a few hundred rows per period,
    plus the rows of the hour under way that have settled (`repository.tally_selects`).
    Kept in the same transaction as every write of an outcome row's state
    (`metering.ledger.outcomes.repository`), reconciled from the rows at close.
    """

    __tablename__ = "outcome_tallies"
    __table_args__ = (
        sa.UniqueConstraint(
            "customer_id",
            "period_start",
            "outcome",
            "state",
            "settles_by",
            name="uq_outcome_tallies_bucket",
        ),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    vendor_id: str = Field(foreign_key="vendors.id", max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40)
    outcome: str = Field(max_length=200)
    period_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    state: str = Field(max_length=30)
    settles_by: datetime = Field(sa_type=UTCDateTime, nullable=False)
    units: Decimal = Field(default=Decimal(0), sa_type=Amount)
    rows: int = Field(default=0)
