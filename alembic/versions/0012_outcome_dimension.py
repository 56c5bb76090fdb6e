"""Outcome dimension: the value of the `group_by` path a charge prices the outcome by.

A charge with `group_by: properties.model` bills one line per model; the close groups the
period's outcome rows by this column, written with the row from the event under the plan
version in force. Rows stored before this revision had no grouped charge: NULL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("dimension", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("dimension")
