"""The schedule lives in the service's database, shared by every process that runs jobs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metering.platform.db.engine import make_engine
from metering.platform.jobs.models import apscheduler_jobs
from metering.platform.jobs.scheduler import build_scheduler
from metering.platform.settings import Settings
from metering.surfaces import jobs as tasks
from metering.surfaces.jobs import (
    ALERTS_JOB_ID,
    CLOSE_JOB_ID,
    EXPIRY_JOB_ID,
    SYNC_JOB_ID,
    WEBHOOKS_JOB_ID,
    jobs_of,
)

ALL_JOBS = sorted([ALERTS_JOB_ID, CLOSE_JOB_ID, EXPIRY_JOB_ID, SYNC_JOB_ID, WEBHOOKS_JOB_ID])


def job_settings(database_url: str, close: timedelta, sync: timedelta) -> Settings:
    return Settings(database_url=database_url, jobs_close_interval=close, jobs_sync_interval=sync)


@contextmanager
def paused_scheduler(settings: Settings) -> Iterator[Any]:
    """A started scheduler that runs nothing: its jobs are written to the store all the same."""
    scheduler = build_scheduler(make_engine(settings.database_url), jobs_of(settings))
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)  # also disposes of its engine


def stored_job_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(apscheduler_jobs.c.id)).scalars())


def test_both_jobs_are_stored_with_their_intervals(engine: Engine, database_url: str) -> None:
    settings = job_settings(database_url, timedelta(minutes=7), timedelta(seconds=45))
    with paused_scheduler(settings) as scheduler:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert stored_job_ids(engine) == ALL_JOBS
    assert jobs[CLOSE_JOB_ID].trigger.interval == timedelta(minutes=7)
    assert jobs[SYNC_JOB_ID].trigger.interval == timedelta(seconds=45)
    assert jobs[CLOSE_JOB_ID].func is tasks.close_due_periods
    assert jobs[SYNC_JOB_ID].func is tasks.sync_invoices
    assert jobs[WEBHOOKS_JOB_ID].func is tasks.deliver_webhooks
    assert jobs[ALERTS_JOB_ID].func is tasks.evaluate_alerts
    assert jobs[EXPIRY_JOB_ID].func is tasks.expire_credits
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)


def test_a_second_process_replaces_the_schedule_instead_of_adding_to_it(
    engine: Engine, database_url: str
) -> None:
    first = job_settings(database_url, timedelta(minutes=7), timedelta(seconds=45))
    second = job_settings(database_url, timedelta(minutes=2), timedelta(seconds=10))
    with paused_scheduler(first) as running, paused_scheduler(second):
        assert stored_job_ids(engine) == ALL_JOBS
        intervals = {job.id: job.trigger.interval for job in running.get_jobs()}
    assert intervals[CLOSE_JOB_ID] == timedelta(minutes=2)
    assert intervals[SYNC_JOB_ID] == timedelta(seconds=10)


def test_the_api_alone_runs_no_jobs(engine: Engine, app_client: Any) -> None:
    """`create_app` never starts the scheduler: only `metering serve` and `worker` do."""
    assert app_client.get("/healthz").status_code == 200
    assert not [thread for thread in threading.enumerate() if thread.name == "APScheduler"]
    assert stored_job_ids(engine) == []
