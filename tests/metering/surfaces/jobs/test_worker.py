"""`metering worker` as an operator runs it: a foreground process stopped by a signal."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from metering.platform.db import migrate
from metering.platform.db.engine import make_engine
from tests.metering.surfaces.jobs.conftest import start_metering, wait_for

FAST = {"METERING_JOBS_CLOSE_INTERVAL": "PT1S", "METERING_JOBS_SYNC_INTERVAL": "PT1S"}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_worker_migrates_runs_the_jobs_and_stops_on_a_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    log = tmp_path / "worker.log"
    worker = start_metering(["worker"], {"METERING_DATABASE_URL": url, **FAST}, log)
    try:
        wait_for(lambda: log.read_text().count('Running job "close_due_periods') >= 1, 30, "a run")
        worker.send_signal(stop_signal)
        assert worker.wait(timeout=30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    output = log.read_text()
    assert (
        f"database {url} migrated; closing due periods every 1s, "
        "no Stripe sync (METERING_STRIPE_API_KEY is not set) (Ctrl-C stops)"
    ) in output
    assert "Scheduler has been shut down" in output
    assert output.rstrip().endswith("worker stopped")
    engine = make_engine(url)
    try:
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_worker_says_when_it_syncs_to_stripe(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = {
        "METERING_DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        "METERING_STRIPE_API_KEY": "sk_test_jobs",
        "METERING_STRIPE_API_BASE": "http://127.0.0.1:9",  # nothing due: never called
        "METERING_JOBS_CLOSE_INTERVAL": "PT5M",
        "METERING_JOBS_SYNC_INTERVAL": "PT30S",
    }
    worker = start_metering(["worker"], env, log)
    try:
        wait_for(lambda: "Ctrl-C stops" in log.read_text(), 30, "the start-up line")
        worker.terminate()
        assert worker.wait(timeout=30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "closing due periods every 5min, syncing invoices to Stripe every 30s" in log.read_text()


def test_worker_exits_non_zero_naming_a_job_that_stopped_succeeding(tmp_path: Path) -> None:
    """The webhook job loses its table: three intervals on, the worker says which job and why
    and exits with status 1, so a process manager restarts it."""
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    log = tmp_path / "worker.log"
    env = {"METERING_DATABASE_URL": url, **FAST, "METERING_JOBS_WEBHOOKS_INTERVAL": "PT1S"}
    worker = start_metering(["worker"], env, log)
    try:
        wait_for(
            lambda: (
                'Job "deliver_webhooks (trigger: interval[0:00:01], next run at:' in log.read_text()
            ),
            30,
            "a first webhook run",
        )
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE webhook_deliveries"))
        finally:
            engine.dispose()
        assert worker.wait(timeout=30) == 1, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    output = log.read_text()
    assert (
        "stopping, the jobs are not healthy: job deliver_webhooks has not succeeded for "
        "3 intervals of 1s (last success: "
    ) in output
    assert "no such table: webhook_deliveries" in output
    assert "worker stopped: its jobs are not healthy" in output
