"""Job runs: each scheduled job's last start, success and error, for /readyz and workers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job_id", sa.String(191), primary_key=True),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("scheduled_at", TS, nullable=False),
        sa.Column("last_started_at", TS, nullable=True),
        sa.Column("last_succeeded_at", TS, nullable=True),
        sa.Column("last_failed_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
