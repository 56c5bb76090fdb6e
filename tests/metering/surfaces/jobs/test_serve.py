"""`metering serve` runs the jobs beside uvicorn, once per serve, unless told --no-jobs."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from metering.platform.jobs import context
from metering.platform.settings import get_settings
from metering.surfaces.cli import serve
from tests.metering.surfaces.jobs.conftest import start_metering, wait_for

runner = CliRunner()
cli = typer.Typer()
cli.command("serve")(serve.serve_command)
cli.command("unused")(lambda: None)  # two commands, so `serve` stays a sub-command


def scheduler_running() -> bool:
    return any(thread.name == "APScheduler" for thread in threading.enumerate())


def invoke_serve(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("METERING_DATABASE_URL", f"sqlite:///{tmp_path / 'served.db'}")
    monkeypatch.setenv("METERING_JOBS_CLOSE_INTERVAL", "PT1H")
    get_settings.cache_clear()
    try:
        return runner.invoke(cli, ["serve", *args])
    finally:
        get_settings.cache_clear()


def record_while_serving(seen: list[bool]) -> None:
    seen.append(scheduler_running())
    if seen[-1]:
        assert context.current().settings.database_url.endswith("served.db")


def test_serve_runs_the_jobs_while_uvicorn_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *_a, **_kw: record_while_serving(seen))
    result = invoke_serve(["--port", "8123"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert seen == [True]
    assert not scheduler_running()
    assert "jobs: closing due periods every 60min, no Stripe sync" in result.output


def test_serve_with_workers_runs_the_jobs_once_in_the_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    class Supervisor:
        def __init__(self, _config: Any, sockets: list[Any]) -> None:
            self.sockets = sockets

        def run(self) -> None:
            record_while_serving(seen)
            self.sockets[0].close()

    monkeypatch.setattr(serve, "Multiprocess", Supervisor)
    result = invoke_serve(["--port", "0", "--workers", "3"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert seen == [True]
    assert not scheduler_running()


@pytest.mark.parametrize(("setting", "timeout"), [(None, 30), ("90", 90)])
def test_serve_with_workers_gives_slow_workers_time_to_answer_health_checks(
    setting: str | None, timeout: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn's own 5 s killed workers that were busy importing on a loaded host, forever."""
    configs: list[Any] = []

    class Supervisor:
        def __init__(self, config: Any, sockets: list[Any]) -> None:
            configs.append(config)
            self.sockets = sockets

        def run(self) -> None:
            self.sockets[0].close()

    if setting is not None:
        monkeypatch.setenv("METERING_SERVE_WORKER_HEALTHCHECK_SECONDS", setting)
    monkeypatch.setattr(serve, "Multiprocess", Supervisor)
    result = invoke_serve(["--port", "0", "--workers", "2", "--no-jobs"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert [(c.workers, c.timeout_worker_healthcheck) for c in configs] == [(2, timeout)]


def test_serve_no_jobs_leaves_them_to_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *_a, **_kw: record_while_serving(seen))
    result = invoke_serve(["--port", "8123", "--no-jobs"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert seen == [False]
    assert "jobs: off (run `metering worker`)" in result.output


def test_sigterm_stops_uvicorn_then_the_jobs(tmp_path: Path) -> None:
    """Exit status 128+15 comes from our handler: the process unwound and stopped the
    scheduler instead of being killed by the signal uvicorn re-raises (status -15)."""
    log = tmp_path / "serve.log"
    env = {
        "METERING_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "METERING_JOBS_CLOSE_INTERVAL": "PT1H",
    }
    server = start_metering(["serve", "--port", "0"], env, log)
    try:
        wait_for(lambda: "Application startup complete" in log.read_text(), 30, "uvicorn")
        wait_for(lambda: "close_due_periods: 0 invoices issued" in log.read_text(), 30, "a run")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
    assert "Finished server process" in log.read_text()
