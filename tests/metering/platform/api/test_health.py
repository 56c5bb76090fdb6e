"""Probes: /healthz answers while the process runs; /readyz only with a migrated database
and jobs that keep succeeding."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.platform.db.types import utcnow
from metering.platform.jobs.models import JobRun
from metering.platform.settings import Settings
from metering.surfaces.app import create_app


def test_healthz_and_readyz_on_a_migrated_database(app_client: Any) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_readyz_is_503_until_migrations_have_run(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "The database schema is not current; run `metering db upgrade`."
    )


def test_readyz_is_503_when_the_database_does_not_answer() -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert (response.status_code, response.json()["detail"]) == (
        503,
        "The database is not reachable.",
    )


def test_openapi_documents_the_api_with_examples(app_client: Any) -> None:
    document = app_client.get("/openapi.json").json()
    upload = document["paths"]["/v1/plans"]["post"]
    assert "plan: support-agent" in upload["requestBody"]["content"]["application/yaml"]["example"]
    assert set(upload["responses"]) >= {"200", "201", "401", "409", "413", "422"}
    customer = document["components"]["schemas"]["CustomerCreate"]
    assert customer["examples"][0]["external_id"] == "acme"
    assert app_client.get("/docs").status_code == 200


def store_run(
    engine: Engine, job_id: str, every: timedelta, scheduled: datetime, **last: Any
) -> None:
    with Session(engine) as session:
        session.add(
            JobRun(
                job_id=job_id,
                interval_seconds=every.total_seconds(),
                scheduled_at=scheduled,
                updated_at=utcnow(),
                **last,
            )
        )
        session.commit()


def test_readyz_is_503_naming_each_job_without_a_success_for_three_intervals(
    engine: Engine, app_client: Any
) -> None:
    now = utcnow().replace(microsecond=0)
    five_minutes = timedelta(minutes=5)
    store_run(
        engine,
        "close_due_periods",
        five_minutes,
        now - timedelta(days=3),
        last_started_at=now - timedelta(minutes=1),
        last_succeeded_at=now - timedelta(minutes=16),
        last_failed_at=now - timedelta(minutes=1),
        last_error="OperationalError: server closed the connection unexpectedly",
    )
    store_run(
        engine,
        "deliver_webhooks",
        timedelta(seconds=5),
        now - timedelta(days=3),
        last_started_at=now - timedelta(seconds=2),
        last_succeeded_at=now - timedelta(seconds=2),
        last_failed_at=now - timedelta(hours=1),
        last_error="OperationalError: long ago",
    )
    response = app_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    at = f"{now - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}"
    succeeded = f"{now - timedelta(minutes=16):%Y-%m-%dT%H:%M:%SZ}"
    assert response.json() == {
        "type": "/problems/not-ready",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "Jobs are overdue: job close_due_periods has not succeeded for 3 intervals "
        f"of 300s (last success: {succeeded}); last error at {at}: "
        "OperationalError: server closed the connection unexpectedly.",
    }


def test_readyz_gives_a_job_three_intervals_from_its_first_scheduling(
    engine: Engine, app_client: Any
) -> None:
    """A job never run yet is judged from when a process first scheduled it."""
    now = utcnow().replace(microsecond=0)
    store_run(engine, "evaluate_alerts", timedelta(minutes=1), now - timedelta(minutes=2))
    assert app_client.get("/readyz").status_code == 200
    scheduled = now - timedelta(minutes=16)
    store_run(engine, "close_due_periods", timedelta(minutes=5), scheduled)
    response = app_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "Jobs are overdue: job close_due_periods has not succeeded for 3 intervals of 300s "
        f"(last success: never); no run has started since it was scheduled at "
        f"{scheduled:%Y-%m-%dT%H:%M:%SZ}."
    )
