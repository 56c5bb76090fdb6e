"""The vendor setting that writes its events to the ClickHouse event log too.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch would rebuild `vendors` on SQLite, which others reference.
    op.add_column(
        "vendors", sa.Column("eventlog", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("vendors") as batch:
        batch.drop_column("eventlog")
