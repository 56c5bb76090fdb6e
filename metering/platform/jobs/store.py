"""APScheduler's SQLAlchemy job store, made so that a database error never stops the scheduler.

APScheduler 3 runs its whole loop in one thread. It survives an error while reading the due
jobs (it logs it and tries again after `jobstore_retry_interval`), but not one while writing
a job's next run time back after submitting it (`update_job`) or while reading when to wake
up next (`get_next_run_time`): such an error (a connection terminated while the row was
locked, a failover) ended the thread, and the process went on answering requests without
running a job again. Here both calls catch SQLAlchemy's errors and log them:

- a next run time that could not be written stays in memory and is written at the next
  wakeup, before the due jobs are read: the job runs at its next tick, not again at once and
  not never;
- a next wakeup that could not be read becomes one retry interval from now.

The failed connection is not reused: SQLAlchemy invalidates a connection that lost its
server (and the pool's other connections with it) and PostgreSQL connections are pinged
before use, so the retry runs on a fresh one. This was chosen over a supervisor restarting a
dead scheduler thread: the scheduler keeps its state (jobs submitted, instances running), and
only the documented job store interface is extended, not the scheduler's private loop.
Interval jobs never reach the store's `remove_job` from the loop; the calls made outside it
(adding jobs at start) still raise, so a process that cannot reach its database does not start.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy.exc import SQLAlchemyError

from metering.platform.jobs.runs import error_text

logger = logging.getLogger(__name__)


class SurvivingJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # APScheduler is untyped
    """The job table in the service's database, read and written by the scheduler's loop."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._unsaved: dict[str, Any] = {}  # job id -> the job whose next run is not written

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except SQLAlchemyError as error:
            logger.warning(
                "could not save the next run of job %s, saving it at the next wakeup: %s",
                job.id,
                error_text(error),
            )
            self._unsaved[job.id] = job
        else:
            self._unsaved.pop(job.id, None)

    def get_due_jobs(self, now: datetime) -> list[Any]:
        """Writes what a failed `update_job` left first; an error here is the scheduler's to
        log and retry."""
        for job_id, job in list(self._unsaved.items()):
            with suppress(JobLookupError):  # removed meanwhile: nothing left to save
                super().update_job(job)
            del self._unsaved[job_id]
        jobs: list[Any] = super().get_due_jobs(now)
        return jobs

    def get_next_run_time(self) -> datetime | None:
        try:
            next_run: datetime | None = super().get_next_run_time()
        except SQLAlchemyError as error:
            retry = timedelta(seconds=self._scheduler.jobstore_retry_interval)
            logger.warning(
                "could not read the next run time, retrying in %gs: %s",
                retry.total_seconds(),
                error_text(error),
            )
            return datetime.now(UTC) + retry
        return next_run
