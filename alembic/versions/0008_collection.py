"""Collected revenue: idempotency rounds and dunning on payment links, payments received
outside a provider, each customer's payment provider, each vendor's retry schedule.

Existing customers keep Stripe (the only provider before this revision); issued invoices
that no provider had taken yet are Stripe's, as their customers are.

Columns are added with ALTER TABLE ... ADD COLUMN (batch mode, `recreate="never"`, as 0006
explains), NOT NULL ones with a server default.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
LINK_COLUMNS = (
    "key_round",
    "decline_code",
    "first_failed_at",
    "failed_payments",
    "uncollectible_at",
)


def upgrade() -> None:
    with op.batch_alter_table("invoice_payment_links", recreate="never") as batch:
        batch.add_column(sa.Column("key_round", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("decline_code", sa.String(40), nullable=True))
        batch.add_column(sa.Column("first_failed_at", TS, nullable=True))
        batch.add_column(
            sa.Column("failed_payments", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("uncollectible_at", TS, nullable=True))
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.add_column(
            sa.Column("payment_provider", sa.String(40), nullable=False, server_default="stripe")
        )
    with op.batch_alter_table("vendors", recreate="never") as batch:
        batch.add_column(sa.Column("payment_retry_days", sa.JSON(), nullable=True))
    op.execute(
        """
        UPDATE invoice_payment_links SET provider = 'stripe'
        WHERE provider IS NULL AND invoice_id IN (
            SELECT id FROM invoices WHERE status IN ('issued', 'payment_failed', 'paid')
        )
        """
    )
    op.create_table(
        "invoice_payments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("invoice_id", ID, sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("amount", sa.Numeric(38, 12), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("invoice_id", "reference", name="uq_invoice_payments_reference"),
    )


def downgrade() -> None:
    op.drop_table("invoice_payments")
    with op.batch_alter_table("vendors", recreate="never") as batch:
        batch.drop_column("payment_retry_days")
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_column("payment_provider")
    with op.batch_alter_table("invoice_payment_links", recreate="never") as batch:
        for column in LINK_COLUMNS:
            batch.drop_column(column)
