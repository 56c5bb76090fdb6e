"""The vendor setting that lets its customers set their own spend limit in the portal.

Revision ID: 0026
Revises: 0024
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch would rebuild `vendors` on SQLite, which others reference.
    op.add_column(
        "vendors",
        sa.Column("customer_spend_limits", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("vendors") as batch:
        batch.drop_column("customer_spend_limits")
