"""The real service as a separate process, the way a browser meets it: uvicorn on a free port.

The app reads its database from `METERING_DATABASE_URL` like in production; its output goes
to a log file that is quoted whole when it does not come up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0
ATTEMPTS = 3


def free_port() -> int:
    """A port nothing listens on now (another process may take it before uvicorn: retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(database_url: str, port: int, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        *("-m", "uvicorn", "metering.surfaces.app:create_app", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
    ]
    environment = {
        **os.environ,
        **env,
        "METERING_DATABASE_URL": database_url,
        "METERING_PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            command, cwd=REPOSITORY, env=environment, stdout=output, stderr=subprocess.STDOUT
        )


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    """Wait until /readyz answers 200; False when the process died first (port taken)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_app(database_url: str, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The service on `database_url` (already migrated) for the block; its base URL."""
    for _ in range(ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = _start(database_url, port, log, env or {})
        if _ready(url, process):
            break
        _stop(process)
    else:
        pytest.fail(
            f"the service did not come up in {STARTUP_SECONDS:.0f} s ({ATTEMPTS} tries); "
            f"its output ({log}):\n{log.read_text(errors='replace')[-4000:]}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        _stop(process)
