"""Prepaid credits: grants, and the immutable ledger of their balance changes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(38, 12)


def upgrade() -> None:
    op.create_table(
        "credit_grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("vendor_id", sa.String(40), sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("effective_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("applies_to", sa.JSON(), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column(
            "purchase_invoice_id", sa.String(40), sa.ForeignKey("invoices.id"), nullable=True
        ),
        sa.Column("remaining", AMOUNT, nullable=False),
        sa.Column("voided_at", TS, nullable=True),
        sa.Column("expired_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index(
        "ix_credit_grants_customer", "credit_grants", ["customer_id", "currency", "status"]
    )
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("vendor_id", sa.String(40), sa.ForeignKey("vendors.id"), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("grant_id", sa.String(40), sa.ForeignKey("credit_grants.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("invoice_id", sa.String(40), sa.ForeignKey("invoices.id"), nullable=True),
        sa.Column("period_start", TS, nullable=True),
        sa.Column("period_end", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_credit_entries_customer", "credit_entries", ["customer_id", "id"])
    op.create_index("ix_credit_entries_grant", "credit_entries", ["grant_id"])


def downgrade() -> None:
    op.drop_table("credit_entries")
    op.drop_table("credit_grants")
