"""Each job records its last start, success and error in `job_runs`; /readyz reads them.

A job that fails is recorded and runs again at its next tick; a record that cannot be
written is logged and the job runs all the same.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.platform.db.engine import make_engine
from metering.platform.jobs import scheduler
from metering.platform.jobs.context import current, recorded
from metering.platform.jobs.models import JobRun
from metering.platform.jobs.runs import JobRuns
from metering.platform.settings import Settings
from metering.surfaces.jobs import CLOSE_JOB_ID, jobs_of, running_jobs
from tests.metering.conftest import migrated_database
from tests.metering.surfaces.jobs.billing import invoice_count, seed_billing
from tests.metering.surfaces.jobs.conftest import every_second, wait_for

FLAKY_JOB_ID = "flaky"
SECOND = timedelta(seconds=1)


class Flaky:
    """What the `flaky` job does on its next runs (module state: the job store pickles only a
    reference to the function)."""

    failing = True
    attempts = 0


@recorded(FLAKY_JOB_ID)
def flaky() -> None:
    """Reads a table that does not exist while `Flaky.failing`: a real database error."""
    Flaky.attempts += 1
    if Flaky.failing:
        with current().engine.connect() as connection:
            connection.execute(sa.text("SELECT * FROM no_such_table"))


@pytest.fixture
def flaky_job() -> list[scheduler.Job]:
    Flaky.failing, Flaky.attempts = True, 0
    return [scheduler.Job(FLAKY_JOB_ID, flaky, SECOND)]


def runs_of(engine: Engine) -> dict[str, JobRun]:
    with Session(engine) as session:
        return {run.job_id: run for run in session.exec(select(JobRun)).all()}


def run_of(engine: Engine, job_id: str) -> JobRun:
    run = runs_of(engine).get(job_id)
    assert run is not None, f"no job_runs row for {job_id}"
    return run


def test_every_job_records_its_start_and_its_success(engine: Engine, database_url: str) -> None:
    before = datetime.now(UTC)
    settings = every_second(database_url)
    with running_jobs(settings):
        wait_for(
            lambda: all(run.last_succeeded_at for run in runs_of(engine).values()),
            30,
            "a success of every job",
        )
    runs = runs_of(engine)
    assert sorted(runs) == sorted(job.id for job in jobs_of(settings))
    for run in runs.values():
        assert run.interval_seconds == 1.0
        assert run.last_started_at and run.last_succeeded_at
        assert before <= run.scheduled_at <= run.last_started_at <= run.last_succeeded_at
        assert (run.last_failed_at, run.last_error) == (None, None)


def _between_attempts(run: Any) -> bool:
    return bool(
        run.last_failed_at and run.last_started_at and run.last_started_at <= run.last_failed_at
    )


def test_a_failing_job_records_its_error_and_runs_again_at_its_next_tick(
    engine: Engine, database_url: str, flaky_job: list[scheduler.Job]
) -> None:
    settings = Settings(database_url=database_url)
    with scheduler.running_jobs(settings, flaky_job):
        wait_for(lambda: Flaky.attempts >= 2, 30, "a second attempt of the failing job")
        # Read between two attempts: a snapshot taken as the next one starts has a start
        # newer than its failure, which says nothing about how a failure is recorded.
        snapshots = [run_of(engine, FLAKY_JOB_ID)]
        wait_for(
            lambda: (
                _between_attempts(snapshots[-1])
                or bool(snapshots.append(run_of(engine, FLAKY_JOB_ID)))
            ),
            30,
            "a recorded failure",
        )
        failed = snapshots[-1]
        Flaky.failing = False
        wait_for(
            lambda: run_of(engine, FLAKY_JOB_ID).last_succeeded_at is not None,
            30,
            "a success once the job works again",
        )
    assert failed.last_succeeded_at is None
    assert failed.last_failed_at and failed.last_started_at
    assert failed.last_started_at <= failed.last_failed_at
    assert failed.last_error and "no_such_table" in failed.last_error
    assert failed.last_error.startswith(("OperationalError: ", "ProgrammingError: "))
    assert "[SQL" not in failed.last_error  # the error's first line, not the statement
    recovered = run_of(engine, FLAKY_JOB_ID)
    assert recovered.last_failed_at and recovered.last_succeeded_at
    assert recovered.last_succeeded_at > recovered.last_failed_at
    assert recovered.last_error == failed.last_error  # the last error stays for the record


def test_readyz_names_a_job_that_has_failed_for_three_intervals(
    engine: Engine, database_url: str, app_client: Any, flaky_job: list[scheduler.Job]
) -> None:
    settings = Settings(database_url=database_url)
    with scheduler.running_jobs(settings, flaky_job):
        assert app_client.get("/readyz").status_code == 200
        wait_for(lambda: app_client.get("/readyz").status_code == 503, 30, "not ready")
        problem = app_client.get("/readyz").json()
        Flaky.failing = False
        wait_for(lambda: app_client.get("/readyz").status_code == 200, 30, "ready again")
    assert problem["type"] == "/problems/not-ready"
    assert problem["detail"].startswith(
        "Jobs are overdue: job flaky has not succeeded for 3 intervals of 1s "
        "(last success: never); last error at "
    )
    assert "no_such_table" in problem["detail"]


def test_a_job_runs_when_its_record_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="metering.platform.jobs.runs")
    with migrated_database("sqlite", tmp_path, "unrecorded") as url:
        engine = make_engine(url)
        try:
            with running_jobs(every_second(url)):
                wait_for(
                    lambda: run_of(engine, CLOSE_JOB_ID).last_succeeded_at is not None,
                    30,
                    "a first close",
                )
                with engine.begin() as connection:
                    connection.execute(sa.text("DROP TABLE job_runs"))
                billing = seed_billing(engine, customers=1, conversations=1)
                due = len(billing.due_periods(datetime.now(UTC)))
                wait_for(lambda: invoice_count(engine) >= due, 30, f"{due} invoices")
        finally:
            engine.dispose()
    assert "could not record the run of job close_due_periods" in caplog.text
    assert "no such table: job_runs" in caplog.text


def test_a_later_process_keeps_the_first_scheduling_and_drops_jobs_no_longer_run(
    engine: Engine,
) -> None:
    first = datetime(2026, 12, 1, 9, tzinfo=UTC)
    JobRuns(engine, {"retired": SECOND, CLOSE_JOB_ID: SECOND}, first).register()
    later = JobRuns(engine, {CLOSE_JOB_ID: timedelta(minutes=5)}, first + timedelta(days=1))
    later.register()
    later.started(CLOSE_JOB_ID)
    later.started("retired")  # a job this process does not schedule leaves no row
    (run,) = runs_of(engine).values()
    assert (run.job_id, run.interval_seconds, run.scheduled_at) == (CLOSE_JOB_ID, 300.0, first)
    assert run.last_started_at and run.last_started_at > first + timedelta(days=1)
