"""Probes: /healthz answers while the process runs; /readyz only with a migrated database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

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
