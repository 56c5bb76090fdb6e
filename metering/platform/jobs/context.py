"""The process context the scheduled jobs run in.

The job store pickles a job's function reference and arguments into the database, so the
functions take no arguments: the engine and settings (which hold provider keys, never to be
written to a table) come from the context the process binds when its scheduler starts.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from metering.platform.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What the jobs of this process use: the database, the settings, a name for leases."""

    engine: Engine
    settings: Settings
    owner: str


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
