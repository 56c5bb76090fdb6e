"""`metering worker`: run the background jobs without the API, and stop when they stop working.

The worker watches its own jobs (their record in this process, `JobRuns.stalled`) while it
waits for a signal: when one has not succeeded for three of its intervals it says which and
why and exits with status 1, so a process manager restarts it and the operator sees it. It
asks the process, not the database, because restarting is a remedy for this process's jobs:
another worker's successes do not make this one healthy, and a database it cannot reach
does not keep it from knowing.

It logs like `metering serve` (`METERING_LOG_FORMAT`), and has no API: with
`--metrics-port` (or `METERING_WORKER_METRICS_PORT`) it serves its own counters there for
Prometheus to scrape; the gauges read from the database are on the API's `/metrics`.
"""

from __future__ import annotations

import signal
import time
from contextlib import ExitStack
from datetime import timedelta
from types import FrameType

import typer

from metering.platform import collector
from metering.platform.db import migrate
from metering.platform.db.types import utcnow
from metering.platform.jobs.context import current
from metering.platform.monitoring import logs, metrics
from metering.platform.settings import Settings, get_settings
from metering.surfaces.cli.db import database_label
from metering.surfaces.jobs import running_jobs

# The exit status of a worker whose jobs stopped succeeding.
UNHEALTHY = 1


def _duration(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    return f"{seconds:g}s" if seconds < 120 else f"{seconds / 60:g}min"


def jobs_summary(settings: Settings) -> str:
    """One line saying what the jobs will do, for the operator starting them."""
    sync = (
        f"syncing invoices to Stripe every {_duration(settings.jobs_sync_interval)}"
        if settings.stripe_api_key
        else "no Stripe sync (METERING_STRIPE_API_KEY is not set)"
    )
    return f"closing due periods every {_duration(settings.jobs_close_interval)}, {sync}"


def worker_command(
    metrics_port: int | None = typer.Option(
        None,
        help="Serve this worker's Prometheus metrics on this port "
        "[default: METERING_WORKER_METRICS_PORT, else not served].",
    ),
    metrics_host: str | None = typer.Option(
        None, help="Interface of the metrics port [default: METERING_WORKER_METRICS_HOST]."
    ),
) -> None:
    """Run the jobs (close periods, sync to Stripe, send webhooks, check alerts) until interrupted.

    Migrates first. Workers may share one PostgreSQL database: jobs claim what they work on.

    Exits with status 1 when a job goes three of its intervals without success, saying why.

    A run still in progress is not held against it. Let the process manager restart it.
    """
    settings = get_settings()
    migrate.upgrade(settings.database_url)
    port = metrics_port if metrics_port is not None else settings.worker_metrics_port
    host = metrics_host or settings.worker_metrics_host
    # A flag, not a threading.Event: a handler that takes a lock the interrupted main thread
    # holds would deadlock.
    stopping: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stalled: list[str] = []
    try:
        with ExitStack() as stack:
            stack.enter_context(logs.configured(settings.log_format))
            if port is not None:
                typer.echo(f"metrics: {stack.enter_context(metrics.served(host, port))}")
            stack.enter_context(running_jobs(settings))
            collector.settle_for_serving()  # the jobs are built: the rest is their work
            typer.echo(
                f"database {database_label(settings.database_url)} migrated; "
                f"{jobs_summary(settings)} (Ctrl-C stops)"
            )
            runs = current().runs
            while not stopping and not stalled:
                time.sleep(0.2)
                stalled = [] if stopping else runs.stalled(utcnow())
            if stalled:
                typer.echo(f"stopping, the jobs are not healthy: {'; '.join(stalled)}", err=True)
            typer.echo("stopping: waiting for running jobs to finish")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stalled:
        typer.echo("worker stopped: its jobs are not healthy", err=True)
        raise typer.Exit(UNHEALTHY)
    typer.echo("worker stopped")
