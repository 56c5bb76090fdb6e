"""Disputes: a customer flags an outcome, the vendor accepts (credit) or rejects.

Also the index the portal's outcome list pages by: a customer's outcomes newest first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
KEY = ["customer_id", "outcome", "period_start", "dedupe_key"]


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("outcome_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
    )
    op.create_index(
        "uq_disputes_open_key",
        "disputes",
        KEY,
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_disputes_key", "disputes", KEY)
    op.create_index("ix_disputes_vendor_status", "disputes", ["vendor_id", "status"])
    op.create_index("ix_outcomes_customer_time", "outcomes", ["customer_id", "occurred_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_customer_time", table_name="outcomes")
    op.drop_table("disputes")
