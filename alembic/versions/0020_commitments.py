"""Threshold invoicing per customer: `customers.invoice_at`, the customer's own amount over
its plan's `billing.invoice_at`. (Commitments and interim invoices need no table: a
commitment's position is read from outcome rows, an interim is an invoice of kind
`interim`.)

Revision ID: 0020
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0020"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.add_column(sa.Column("invoice_at", sa.Numeric(38, 12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_column("invoice_at")
