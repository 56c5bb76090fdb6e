"""The jobs' tables: APScheduler's schedule and what each job did last.

APScheduler's `SQLAlchemyJobStore` builds the same `apscheduler_jobs` table in its own
metadata and finds it already there (the migration makes it like any other).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from metering.platform.db.types import UTCDateTime

apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary(), nullable=False),
)


class JobRun(SQLModel, table=True):
    """One scheduled job's last start, success and failure, whichever process ran it.

    `scheduled_at` is when a process first scheduled the job: the clock a job that never
    succeeded is judged by (a restart does not move it, so a process that crashes before its
    jobs succeed cannot look healthy). `interval_seconds` is the interval the last process to
    start scheduled it with, as in `apscheduler_jobs`.
    """

    __tablename__ = "job_runs"

    job_id: str = Field(primary_key=True, max_length=191)
    interval_seconds: float
    scheduled_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_succeeded_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
