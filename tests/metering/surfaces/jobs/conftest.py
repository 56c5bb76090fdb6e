"""Run `metering` commands as real processes (the jobs live in threads and signal handlers),
wait for what they do, and run every job each second."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

from metering.platform.settings import Settings
from tests.metering.conftest import receiving_settings

REPOSITORY = Path(__file__).resolve().parents[4]
COMMAND = [sys.executable, "-c", "from metering.surfaces.cli.main import app; app()"]


def start_metering(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`metering ARGS` with `env` added to this environment; stdout and stderr go to `log`.

    Log lines are text (the tests read their messages) unless `env` asks for JSON.
    """
    with log.open("wb") as output:
        return subprocess.Popen(
            [*COMMAND, *args],
            cwd=REPOSITORY,
            env={**os.environ, "METERING_LOG_FORMAT": "text", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def every_second(database_url: str) -> Settings:
    """Settings that run every job each second."""
    second = timedelta(seconds=1)
    return receiving_settings(
        database_url=database_url,
        jobs_close_interval=second,
        jobs_sync_interval=second,
        jobs_webhooks_interval=second,
        jobs_alerts_interval=second,
        jobs_expiry_interval=second,
    )
