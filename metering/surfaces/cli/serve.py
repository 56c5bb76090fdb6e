"""`metering serve`: migrate the database, then run the API under uvicorn (and the jobs).

The jobs run in this process, next to uvicorn and outside the app: with `--workers N` the
process here is uvicorn's supervisor, so one `metering serve` runs one scheduler however many
API processes it starts, and an app made by `create_app` (tests, other servers) never runs
jobs. `--no-jobs` leaves them to `metering worker` processes.

Every process logs as `METERING_LOG_FORMAT` says (uvicorn applies the same logging
configuration in each worker). With `--workers N`, the workers and the jobs here count their
metrics into one directory made for this run and removed at its end, so `/metrics` gives the
totals of all of them, whichever worker answers.
"""

from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

import typer
import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from metering.platform.db import migrate
from metering.platform.monitoring import logs, metrics
from metering.platform.monitoring.requests import MonitoredApp
from metering.platform.settings import get_settings
from metering.surfaces.app import create_app
from metering.surfaces.cli.db import database_label
from metering.surfaces.cli.tcp import TCPConfig
from metering.surfaces.cli.worker import jobs_summary
from metering.surfaces.jobs import running_jobs

APP = "metering.surfaces.cli.serve:served_app"
YOUNG_OBJECTS = 20_000
"""The collector's first threshold in a served process (Python's default is 700)."""


def served_app() -> MonitoredApp:
    """`create_app` for the processes `metering serve` runs (uvicorn's factory).

    What the process made to start (modules, tables, the app) is frozen out of the cyclic
    collector's scans, and its young generation is made large enough that handling a batch
    of events, which makes and drops tens of thousands of objects, does not set off
    collections over them: they were about 5% of an ingest batch's time. Memory is still
    freed by reference counting as before; only cycles wait longer.
    """
    app = create_app()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
    return app


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises SystemExit, so the jobs stop cleanly after uvicorn has.

    uvicorn handles SIGTERM while it serves, then re-raises it with the handler it found: by
    default that kills the process before the scheduler could wait for a running job.
    """

    def leave(signum: int, _frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each opens its own pool)."),
    jobs: bool = typer.Option(
        True,
        "--jobs/--no-jobs",
        help="Run the background jobs (closing periods, Stripe sync) in this process: one "
        "scheduler whatever --workers is. --no-jobs when `metering worker` processes run them.",
    ),
) -> None:
    """Serve the webhook and REST API (migrations run first, so a fresh database works)."""
    settings = get_settings()
    url = settings.database_url
    migrate.upgrade(url)
    typer.echo(f"database {database_label(url)} migrated; serving on http://{host}:{port}")
    log_config = logs.logging_config(settings.log_format)
    with ExitStack() as stack:
        stack.enter_context(logs.configured(settings.log_format))
        if workers > 1:
            # Before the jobs start and the workers are spawned: all of them count there.
            directory = stack.enter_context(metrics.shared_between_processes())
            typer.echo(f"metrics: /metrics adds up the workers and the jobs (kept in {directory})")
        if jobs:
            stack.enter_context(_sigterm_unwinds())
            stack.enter_context(running_jobs(settings))
            typer.echo(f"jobs: {jobs_summary(settings)}")
        else:
            typer.echo("jobs: off (run `metering worker`)")
        if workers == 1:
            uvicorn.run(APP, factory=True, host=host, port=port, log_config=log_config)
            return
        config = TCPConfig(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            timeout_worker_healthcheck=settings.serve_worker_healthcheck_seconds,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()
