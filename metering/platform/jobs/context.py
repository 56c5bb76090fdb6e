"""The process context the scheduled jobs run in, and the decorator that records their runs.

The job store pickles a job's function reference and arguments into the database, so the
functions take no arguments: the engine and settings (which hold provider keys, never to be
written to a table) come from the context the process binds when its scheduler starts. For
the same reason a job function is decorated where it is defined (`@recorded(JOB_ID)`), not
wrapped where it is scheduled: the store must find the recording function under its name.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from metering.platform.jobs.runs import JobRuns
from metering.platform.monitoring import metrics
from metering.platform.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What the jobs of this process use: the database, the settings, a name for leases,
    the record of their runs."""

    engine: Engine
    settings: Settings
    owner: str
    runs: JobRuns


_context: JobContext | None = None


def process_owner() -> str:
    """This process's name in leases (host and pid: unique among live workers)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


def bind(context: JobContext) -> None:
    """Make `context` the one this process's jobs run in."""
    global _context
    _context = context


def unbind() -> None:
    global _context
    _context = None


def current() -> JobContext:
    """The bound context; a job that runs without one is a programming error."""
    if _context is None:
        raise RuntimeError("no job context: start the jobs with metering.surfaces.jobs")
    return _context


def recorded(job_id: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Record each run of the decorated job function under `job_id`: its start, then its
    success or its error (re-raised, so the scheduler logs it and runs the job again at its
    next tick)."""

    def decorate(function: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(function)
        def run() -> None:
            runs = current().runs
            runs.started(job_id)
            try:
                function()
            except BaseException as error:
                runs.failed(job_id, error)
                metrics.count_job_run(job_id, succeeded=False)
                raise
            runs.succeeded(job_id)
            metrics.count_job_run(job_id, succeeded=True)

        return run

    return decorate
