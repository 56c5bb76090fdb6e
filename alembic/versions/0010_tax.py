"""Tax computed by the payment provider (Stripe Tax), optional per vendor: the vendor's tax
provider, each customer's address and tax ids (sent with its customer at the provider), and
the tax the provider computed for an invoice (on its payment link: the invoice itself is never
edited once issued).

Nullable columns only: without a tax provider nothing changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vendors", recreate="never") as batch:
        batch.add_column(sa.Column("tax_provider", sa.String(40), nullable=True))
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.add_column(sa.Column("address", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("tax_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("invoice_payment_links", recreate="never") as batch:
        batch.add_column(sa.Column("tax", sa.Numeric(38, 12), nullable=True))
        batch.add_column(sa.Column("tax_lines", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoice_payment_links", recreate="never") as batch:
        batch.drop_column("tax_lines")
        batch.drop_column("tax")
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_column("tax_ids")
        batch.drop_column("address")
    with op.batch_alter_table("vendors", recreate="never") as batch:
        batch.drop_column("tax_provider")
