"""One APScheduler per process, its jobs kept in the service's own database.

Several processes (`metering serve`, `metering worker`) may run it against one database.
APScheduler 3 does not coordinate them: each wakes up on the shared table and may run a job
another process runs at the same moment. That is allowed because the jobs are safe to run
twice: closing claims subscription rows and the (customer, period) unique key, the Stripe
sync claims each invoice with a lease. The table only keeps the schedule; the last process
to start writes its intervals there, and every process follows the table.

A database error never stops the scheduler (see `store`), and every run is recorded in
`job_runs` (see `runs`), so a job that stops succeeding is reported, never silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from metering.platform.db.engine import make_engine
from metering.platform.db.types import utcnow
from metering.platform.jobs import context
from metering.platform.jobs.runs import JobRuns
from metering.platform.jobs.store import SurvivingJobStore
from metering.platform.settings import Settings

# The longest wait before the scheduler tries its job table again after a database error.
STORE_RETRY = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Job:
    """A job function (no arguments: see `context`) and how often it runs."""

    id: str
    function: Callable[[], None]
    interval: timedelta


def build_scheduler(engine: Engine, jobs: Sequence[Job]) -> BackgroundScheduler:
    """A scheduler (not started) with every job, each due at once and then every interval.

    `coalesce` turns runs missed while no process was up into one; with no misfire grace
    time a late run still happens (a period closed late is better than one left open);
    `max_instances=1` keeps a slow close from overlapping itself within the process. After
    a database error the job table is tried again within `STORE_RETRY`, or sooner when a
    job's interval is shorter.
    """
    retry = min([STORE_RETRY, *(job.interval for job in jobs)])
    scheduler = BackgroundScheduler(
        jobstores={"default": SurvivingJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        jobstore_retry_interval=retry.total_seconds(),
        timezone=UTC,
    )
    now = utcnow()
    for job in jobs:
        scheduler.add_job(
            job.function,
            "interval",
            seconds=job.interval.total_seconds(),
            id=job.id,
            name=job.id,
            replace_existing=True,
            next_run_time=now,
        )
    return scheduler


@contextmanager
def running_jobs(settings: Settings, jobs: Sequence[Job]) -> Iterator[BackgroundScheduler]:
    """The jobs run in background threads of this process for the duration of the block.

    Leaving the block waits for a job that is running to finish, so a close or a sync step
    is not cut off halfway (their transactions would roll back, but the work is lost).
    """
    engine = make_engine(settings.database_url)
    runs = JobRuns(engine, {job.id: job.interval for job in jobs}, utcnow())
    context.bind(context.JobContext(engine, settings, context.process_owner(), runs))
    scheduler = build_scheduler(engine, jobs)
    try:
        runs.register()
        scheduler.start()
        yield scheduler
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        context.unbind()
        engine.dispose()
