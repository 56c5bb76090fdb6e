"""Limits: running outcome tallies for the allowance check, and customer spend limits.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(38, 12)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outcome_tallies",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", sa.String(40), sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("settles_by", TS, nullable=False),
        sa.Column("units", AMOUNT, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.UniqueConstraint(
            "customer_id",
            "period_start",
            "outcome",
            "state",
            "settles_by",
            name="uq_outcome_tallies_bucket",
        ),
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("spend_limit_amount", AMOUNT, nullable=True))
        batch.add_column(sa.Column("spend_limit_on_reach", sa.String(20), nullable=True))
    _backfill()


def _hour_up(value: datetime) -> datetime:
    hour = value.replace(minute=0, second=0, microsecond=0)
    return hour if hour == value else hour + timedelta(hours=1)


def _backfill() -> None:
    """Tally the counted rows already stored (`metering.ledger.tallies`), with timestamps
    read and written as the application's UTC columns are (naive UTC on SQLite)."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    outcomes = sa.table(
        "outcomes",
        *(sa.column(name) for name in ("vendor_id", "customer_id", "outcome", "state")),
        sa.column("period_start", TS),
        sa.column("settles_at", TS),
        sa.column("value", AMOUNT),
    )
    rows = bind.execute(
        sa.select(
            outcomes.c.vendor_id,
            outcomes.c.customer_id,
            outcomes.c.outcome,
            outcomes.c.period_start,
            outcomes.c.state,
            outcomes.c.settles_at,
            outcomes.c.value,
        ).where(outcomes.c.state.in_(["counted", "over_limit"]))
    )
    buckets: dict[tuple[object, ...], tuple[Decimal, int]] = {}
    for vendor, customer, outcome, start, state, settles_at, value in rows:
        utc = settles_at if sqlite else settles_at.astimezone(UTC)
        key = (vendor, customer, outcome, start, state, _hour_up(utc))
        units, count = buckets.get(key, (Decimal(0), 0))
        buckets[key] = (units + (Decimal(1) if value is None else Decimal(value)), count + 1)
    names = ("vendor_id", "customer_id", "outcome", "period_start", "state", "settles_by")
    table = sa.table(
        "outcome_tallies",
        *(sa.column(name) for name in ("vendor_id", "customer_id", "outcome", "state")),
        sa.column("period_start", TS),
        sa.column("settles_by", TS),
        sa.column("units", AMOUNT),
        sa.column("rows", sa.Integer()),
    )
    values = [
        dict(zip(names, key, strict=True), units=units, rows=count)
        for key, (units, count) in buckets.items()
    ]
    if values:
        bind.execute(sa.insert(table), values)


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("spend_limit_on_reach")
        batch.drop_column("spend_limit_amount")
    op.drop_table("outcome_tallies")
