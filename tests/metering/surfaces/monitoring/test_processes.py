"""Counts of several processes add up: the workers and the jobs of one `metering serve`, and a
`metering worker` that serves its own. Their log lines are JSON objects by default."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from metering.platform.db.engine import make_engine
from metering.platform.monitoring.metrics import MULTIPROCESS_DIR
from tests.metering.conftest import create_vendor, migrated_database
from tests.metering.ledger.events.helpers import auth, resolved
from tests.metering.notify.webhooks.receiver import free_port
from tests.metering.surfaces.jobs.conftest import REPOSITORY, start_metering, wait_for
from tests.metering.surfaces.monitoring.helpers import parse, scrape, value

INGESTED = "metering_events_ingested_total"
CLOSE_RUNS = {"job_id": "close_due_periods", "result": "success"}

WRITER = """
import sys
from metering.platform.monitoring import metrics

accepted = int(sys.argv[1])
metrics.count_ingested("api", accepted=accepted, duplicates=1, conflicts=0, rejected=0)
metrics.observe_request("POST", "/v1/events", 200, 0.01)
metrics.count_job_run("close_due_periods", succeeded=True)
"""


@pytest.fixture(scope="module")
def backend() -> str:
    """Counting is the same on both databases; SQLite keeps the processes light."""
    return "sqlite"


def test_counts_written_by_two_processes_add_up_on_metrics(
    tmp_path: Path, app_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "counts"
    directory.mkdir()
    env = {**os.environ, MULTIPROCESS_DIR: str(directory)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, accepted], env=env, cwd=REPOSITORY)
        for accepted in ("3", "4")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    assert len(list(directory.glob("counter_*.db"))) == 2
    monkeypatch.setenv(MULTIPROCESS_DIR, str(directory))

    samples = scrape(app_client)

    assert value(samples, INGESTED, door="api", status="accepted") == 7
    assert value(samples, INGESTED, door="api", status="duplicate") == 2
    assert value(samples, "metering_job_runs_total", **CLOSE_RUNS) == 2
    count = "metering_http_request_duration_seconds_count"
    assert value(samples, count, method="POST", route="/v1/events", status="2xx") == 2


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The log's JSON lines (stdout's plain lines, which commands print, left out); a line
    that starts like a JSON object and is not one fails here."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def fresh_scrape(url: str) -> Any:
    """A scrape on a new connection, so any worker may answer it."""
    with httpx.Client(base_url=url, timeout=10) as client:
        return scrape(client)


def test_serve_with_two_workers_counts_every_process_once(tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path, "served") as database_url:
        engine = make_engine(database_url)
        vendor = create_vendor(engine, "Acme AI")
        engine.dispose()
        url = f"http://127.0.0.1:{free_port()}"
        log = tmp_path / "serve.log"
        env = {
            "METERING_DATABASE_URL": database_url,
            "METERING_JOBS_CLOSE_INTERVAL": "PT1S",
            "METERING_LOG_FORMAT": "json",
        }
        port = url.rsplit(":", 1)[1]
        server = start_metering(["serve", "--workers", "2", "--port", port], env, log)

        def send(number: int) -> int:
            with httpx.Client(base_url=url, timeout=30) as client:
                headers = {**auth(vendor.api_key), "X-Request-Id": f"e2e-{number}"}
                event = resolved(f"evt-{number}", f"c-{number}")
                return client.post("/v1/events", json=event, headers=headers).status_code

        try:
            wait_for(lambda: healthy(url), 120, "the workers to answer")
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(send, range(16)))
            scrapes = [fresh_scrape(url) for _ in range(6)]
            match = re.search(r"kept in (\S+)\)", log.read_text())
            assert match, log.read_text()
            directory = Path(match.group(1))
            writers = {path.stem.rsplit("_", 1)[1] for path in directory.glob("*.db")}
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    assert statuses == [201] * 16
    accepted = [value(s, INGESTED, door="api", status="accepted") for s in scrapes]
    assert accepted == [16] * 6, accepted
    # The jobs run in the supervisor; each worker's scrape shows its runs.
    assert all(value(s, "metering_job_runs_total", **CLOSE_RUNS) >= 1 for s in scrapes)
    assert len(writers) >= 2, writers  # the supervisor and at least one worker
    assert not directory.exists()  # removed when serve stopped
    lines = json_lines(log)
    access = {
        line["request_id"]: line
        for line in lines
        if line["logger"] == "uvicorn.access" and '"POST /v1/events' in line["message"]
    }
    assert sorted(access) == sorted(f"e2e-{number}" for number in range(16))
    assert all({"time", "level", "message", "process"} <= set(line) for line in lines)


def test_a_worker_serves_its_own_counts_on_its_metrics_port(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = {
        "METERING_DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        "METERING_JOBS_CLOSE_INTERVAL": "PT1S",
        "METERING_LOG_FORMAT": "json",
    }
    worker = start_metering(["worker", "--metrics-port", "0"], env, log)
    try:
        wait_for(lambda: "metrics: http://" in log.read_text(), 60, "the metrics port")
        found = re.search(r"metrics: (http://\S+)", log.read_text())
        assert found, log.read_text()
        metrics_url = found.group(1)

        def close_runs() -> float:
            samples = parse(httpx.get(metrics_url, timeout=10).text)
            return value(samples, "metering_job_runs_total", **CLOSE_RUNS)

        wait_for(lambda: close_runs() >= 1, 30, "a counted close")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    # The other jobs log there too, in whichever order the scheduler starts them.
    closes = [
        line
        for line in json_lines(log)
        if line["logger"] == "metering.surfaces.jobs"
        and line["message"].startswith("close_due_periods:")
    ]
    assert closes[0]["message"].startswith("close_due_periods: 0 invoices issued")
    assert closes[0]["level"] == "INFO" and closes[0]["request_id"] is None
