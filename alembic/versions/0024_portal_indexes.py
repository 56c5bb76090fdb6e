"""Outcomes by customer and settle time: the portal's pending outcomes (the next to settle,
the last one to settle) are a short walk of this index instead of a scan of the period.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outcomes_customer_settles", "outcomes", ["customer_id", "settles_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_outcomes_customer_settles", table_name="outcomes")
