"""What each job did last, and when a job is overdue.

Every run is recorded twice: in the process (`JobRuns`, which `metering worker` watches to
stop when its own jobs stop succeeding) and in the `job_runs` table (which `/readyz` reads:
any process's success counts there, and the API processes may run no jobs at all). A
recording that fails is logged and the job goes on: writing the record is never a reason for
a job not to run, nor for its thread to end.

A job is overdue when `OVERDUE_INTERVALS` of its intervals have passed since its last
success or, when it has not succeeded yet, since it was scheduled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from metering.platform.db.types import utcnow
from metering.platform.jobs.models import JobRun

logger = logging.getLogger(__name__)

OVERDUE_INTERVALS = 3
# An error is kept as its type and first line (no SQL parameters, no traceback), this long.
ERROR_CHARS = 500

_TABLE: sa.Table = JobRun.__table__  # type: ignore[attr-defined]


def overdue(run: JobRun, now: datetime) -> bool:
    """`OVERDUE_INTERVALS` intervals without a success since the later of the last success
    and the job's scheduling."""
    since = max(run.scheduled_at, run.last_succeeded_at or run.scheduled_at)
    return now - since > OVERDUE_INTERVALS * timedelta(seconds=run.interval_seconds)


def at_work(run: JobRun) -> bool:
    """A run has started and not finished (exact for one process's own record only)."""
    finished = [moment for moment in (run.last_succeeded_at, run.last_failed_at) if moment]
    return run.last_started_at is not None and all(run.last_started_at > f for f in finished)


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def reason(run: JobRun) -> str:
    """Which job is overdue and why, for an operator."""
    success = _instant(run.last_succeeded_at) if run.last_succeeded_at else "never"
    text = (
        f"job {run.job_id} has not succeeded for {OVERDUE_INTERVALS} intervals of "
        f"{run.interval_seconds:g}s (last success: {success})"
    )
    succeeded = run.last_succeeded_at
    if run.last_failed_at and (succeeded is None or run.last_failed_at > succeeded):
        return f"{text}; last error at {_instant(run.last_failed_at)}: {run.last_error}"
    if at_work(run) and run.last_started_at is not None:
        return f"{text}; a run started at {_instant(run.last_started_at)} has not finished"
    if succeeded is None:
        return f"{text}; no run has started since it was scheduled at {_instant(run.scheduled_at)}"
    return f"{text}; no run has started since then"


def error_text(error: BaseException) -> str:
    """The error's type and first line: enough to say why, never the statement's data."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:ERROR_CHARS]


def recorded_runs(connection: Connection) -> list[JobRun]:
    """What the database holds of every job's runs, whichever process ran them."""
    rows = connection.execute(sa.select(_TABLE).order_by(_TABLE.c.job_id)).mappings()
    return [JobRun(**row) for row in rows]


def overdue_jobs(connection: Connection, now: datetime) -> list[str]:
    """Why each overdue job of the database is overdue, whichever process runs it."""
    return [reason(run) for run in recorded_runs(connection) if overdue(run, now)]


class JobRuns:
    """The runs of this process's jobs, kept here and written to `job_runs`."""

    def __init__(self, engine: Engine, intervals: Mapping[str, timedelta], now: datetime) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._runs = {
            job_id: JobRun(
                job_id=job_id,
                interval_seconds=interval.total_seconds(),
                scheduled_at=now,
                updated_at=now,
            )
            for job_id, interval in intervals.items()
        }

    def register(self) -> None:
        """Give each job of this process its row (an existing row keeps its `scheduled_at`)
        and drop the rows of jobs no longer scheduled: the last process to start decides
        which jobs are watched, as it decides the schedule."""
        rows = [
            {
                "job_id": run.job_id,
                "interval_seconds": run.interval_seconds,
                "scheduled_at": run.scheduled_at,
                "updated_at": run.updated_at,
            }
            for run in self._runs.values()
        ]
        with self._engine.begin() as connection:
            dialect = connection.dialect.name
            insert = postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=["job_id"],
                    set_={
                        "interval_seconds": insert.excluded.interval_seconds,
                        "updated_at": insert.excluded.updated_at,
                    },
                ),
                rows,
            )
            connection.execute(sa.delete(_TABLE).where(_TABLE.c.job_id.not_in(sorted(self._runs))))

    def started(self, job_id: str) -> None:
        self._record(job_id, last_started_at=utcnow())

    def succeeded(self, job_id: str) -> None:
        self._record(job_id, last_succeeded_at=utcnow())

    def failed(self, job_id: str, error: BaseException) -> None:
        self._record(job_id, last_failed_at=utcnow(), last_error=error_text(error))

    def stalled(self, now: datetime) -> list[str]:
        """Why each of this process's jobs is overdue, leaving out a run still at work.

        A run at work is not judged here, so a worker never stops itself in the middle of a
        long close; `/readyz` (which cannot tell a run at work from a process that died in
        one) judges by the last success alone.
        """
        with self._lock:
            runs = list(self._runs.values())
            return [reason(run) for run in runs if overdue(run, now) and not at_work(run)]

    def _record(self, job_id: str, **values: Any) -> None:
        values["updated_at"] = utcnow()
        with self._lock:
            run = self._runs.get(job_id)
            if run is not None:
                for name, value in values.items():
                    setattr(run, name, value)
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    sa.update(_TABLE).where(_TABLE.c.job_id == job_id).values(**values)
                )
        except Exception as error:
            logger.warning("could not record the run of job %s: %s", job_id, error_text(error))
