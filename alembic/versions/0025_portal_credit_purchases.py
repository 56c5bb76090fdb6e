"""The vendor setting that lets customers buy credits in the portal (null: off).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch would rebuild `vendors` on SQLite, which others reference.
    op.add_column("vendors", sa.Column("portal_credit_purchases", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vendors") as batch:
        batch.drop_column("portal_credit_purchases")
