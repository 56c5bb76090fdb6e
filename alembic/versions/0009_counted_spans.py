"""Counted spans: the instants at which each outcome row is its key's billed outcome.

A close prices its period as of its close instant, whenever it runs; a row's state says
what it is now. `counted_from`/`counted_until` say from when until when it is billed, so a
reversal, void or credit after the close instant does not count yet. Rows stored before
this revision get the span their state gives now: a counted row from its own time on,
any other row none, which is how they were billed so far.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("counted_from", TS, nullable=True))
        batch.add_column(sa.Column("counted_until", TS, nullable=True))
    op.execute("UPDATE outcomes SET counted_from = occurred_at WHERE state = 'counted'")


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("counted_until")
        batch.drop_column("counted_from")
