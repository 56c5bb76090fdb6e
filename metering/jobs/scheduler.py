"""One APScheduler per process, its jobs kept in the service's own database.

Several processes (`metering serve`, `metering worker`) may run it against one database.
APScheduler 3 does not coordinate them: each wakes up on the shared table and may run a job
another process runs at the same moment. That is allowed because the jobs are safe to run
twice: closing claims subscription rows and the (customer, period) unique key, the Stripe
sync claims each invoice with a lease. The table only keeps the schedule; the last process
to start writes its intervals there, and every process follows the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from metering.db.engine import make_engine
from metering.db.types import utcnow
from metering.jobs import tasks
from metering.settings import Settings

CLOSE_JOB_ID = "close_due_periods"
SYNC_JOB_ID = "sync_invoices"
WEBHOOKS_JOB_ID = "deliver_webhooks"
ALERTS_JOB_ID = "evaluate_alerts"


def build_scheduler(engine: Engine, settings: Settings) -> BackgroundScheduler:
    """A scheduler (not started) with every job, each due at once and then every interval.

    `coalesce` turns runs missed while no process was up into one; with no misfire grace
    time a late run still happens (a period closed late is better than one left open);
    `max_instances=1` keeps a slow close from overlapping itself within the process.
    """
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    now = utcnow()
    for job_id, function, interval in (
        (CLOSE_JOB_ID, tasks.close_due_periods, settings.jobs_close_interval),
        (SYNC_JOB_ID, tasks.sync_invoices, settings.jobs_sync_interval),
        (WEBHOOKS_JOB_ID, tasks.deliver_webhooks, settings.jobs_webhooks_interval),
        (ALERTS_JOB_ID, tasks.evaluate_alerts, settings.jobs_alerts_interval),
    ):
        scheduler.add_job(
            function,
            "interval",
            seconds=interval.total_seconds(),
            id=job_id,
            name=job_id,
            replace_existing=True,
            next_run_time=now,
        )
    return scheduler


@contextmanager
def running_jobs(settings: Settings) -> Iterator[BackgroundScheduler]:
    """The jobs run in background threads of this process for the duration of the block.

    Leaving the block waits for a job that is running to finish, so a close or a sync step
    is not cut off halfway (their transactions would roll back, but the work is lost).
    """
    engine = make_engine(settings.database_url)
    tasks.bind(tasks.JobContext(engine=engine, settings=settings, owner=tasks.process_owner()))
    scheduler = build_scheduler(engine, settings)
    try:
        scheduler.start()
        yield scheduler
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        tasks.unbind()
        engine.dispose()
