"""Credit purchases and notices: an invoice kind for a one-off invoice selling credits,
automatic top-ups, the vendor's credit notice thresholds and the notices sent.

`invoices.kind` tells a period's invoice from a one-off invoice selling credits. The unique
(customer, period start) constraint stays: a purchase invoice is dated at its issue instant,
never at a whole minute (where periods start), so the two never meet, and SQLite would
otherwise rebuild `invoices`, which other tables reference.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(38, 12)


def upgrade() -> None:
    with op.batch_alter_table("invoices", recreate="never") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(20), nullable=False, server_default="period")
        )
    op.create_table(
        "credit_auto_top_ups",
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("below", AMOUNT, nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("price", AMOUNT, nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("crossing", sa.Integer(), nullable=False),
        sa.Column("checked_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "credit_notice_settings",
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), primary_key=True),
        sa.Column("low_below", sa.JSON(), nullable=False),
        sa.Column("expiring_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "credit_notices",
        sa.Column("id", ID, primary_key=True),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("sent_at", TS, nullable=False),
        sa.UniqueConstraint("customer_id", "kind", "subject", name="uq_credit_notices_once"),
    )


def downgrade() -> None:
    op.drop_table("credit_notices")
    op.drop_table("credit_notice_settings")
    op.drop_table("credit_auto_top_ups")
    with op.batch_alter_table("invoices", recreate="never") as batch:
        batch.drop_column("kind")
