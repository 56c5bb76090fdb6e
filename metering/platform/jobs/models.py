"""The APScheduler job store's table, declared here so the migration makes it like any other.

APScheduler's `SQLAlchemyJobStore` builds the same table in its own metadata and finds it
already there.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary(), nullable=False),
)
