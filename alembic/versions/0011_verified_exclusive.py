"""Verified and exclusive outcomes: claims of three kinds, confirmation windows, longer states.

`outcome_reversals.kind` says what a claim on a match key is: a `reversal` (every row stored
so far), a `rejection` (`settle.rejected_by`) or a `confirmation` (`settle.confirmed_by`).
`outcomes.verify_by` is the end of a verified outcome's confirmation window. States and
statuses grow to 32 characters for `awaiting_verification`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outcome_reversals") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(20), nullable=False, server_default="reversal")
        )
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("verify_by", TS, nullable=True))
        batch.alter_column("state", type_=sa.String(32), existing_nullable=False)
    with op.batch_alter_table("events") as batch:
        batch.alter_column("status", type_=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.alter_column("status", type_=sa.String(20), existing_nullable=False)
    with op.batch_alter_table("outcomes") as batch:
        batch.alter_column("state", type_=sa.String(20), existing_nullable=False)
        batch.drop_column("verify_by")
    with op.batch_alter_table("outcome_reversals") as batch:
        batch.drop_column("kind")
