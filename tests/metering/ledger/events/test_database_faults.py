"""A database fault is retryable: never a 500, never a lost or doubled event.

PostgreSQL's `pg_terminate_backend` ends the app's connections while it ingests: a batch
waiting on a row lock is terminated there, so the fault lands inside its transaction every
time. Ingestion retries once on a fresh connection; a second loss, or a database that does
not answer at all, is a 503 problem with `Retry-After`, logged once with its traceback.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.db.engine import normalise_url
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.conftest import (
    VendorFixture,
    create_customer,
    create_plan,
    create_vendor,
    migrated_database,
)
from tests.metering.ledger.events.helpers import resolved, signed
from tests.metering.surfaces.cli.server import BackgroundServer
from tests.metering.surfaces.jobs.conftest import wait_for

WAITING_ON_LOCK = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)
APP_CONNECTIONS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid()"
)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    with migrated_database("postgresql", tmp_path, "faults") as url:
        engine = sa.create_engine(normalise_url(url), poolclass=sa.NullPool)
        yield engine, url
        engine.dispose()


@pytest.fixture
def billed(pg: tuple[Engine, str]) -> tuple[VendorFixture, str]:
    engine, _ = pg
    vendor = create_vendor(engine, "Acme AI")
    customer_id = create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id))
    return vendor, customer_id


def _pids(engine: Engine, query: str) -> set[int]:
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(sa.text(query))}


def _terminate(engine: Engine, pids: set[int]) -> None:
    with engine.connect() as connection:
        for pid in pids:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(sa.text("SELECT event_id FROM events"))]


@contextmanager
def _customer_locked(engine: Engine, customer_id: str) -> Iterator[None]:
    """The customer's row locked FOR UPDATE: an ingesting transaction waits on it."""
    with engine.connect() as blocker:
        blocker.execute(
            sa.text("SELECT id FROM customers WHERE id = :id FOR UPDATE"), {"id": customer_id}
        )
        yield
        blocker.rollback()


def _terminate_next_waiter(engine: Engine, seen: set[int]) -> None:
    """Wait until a new app connection waits on the lock, then terminate it."""
    waiting: set[int] = set()

    def new_waiter() -> bool:
        waiting.update(_pids(engine, WAITING_ON_LOCK) - seen)
        return bool(waiting)

    wait_for(new_waiter, 30, "the ingesting transaction to wait on the customer's row")
    _terminate(engine, waiting)
    seen.update(waiting)


def _send(
    client: TestClient, vendor: VendorFixture, body: Any, door: str = "api"
) -> Future[httpx.Response]:
    """Post `body` in a thread through the API door (API key) or the signed webhook door."""
    payload = json.dumps(body).encode()
    if door == "api":
        path, headers = "/v1/events", {**_bearer(vendor), "content-type": "application/json"}
    else:
        path = f"/v1/webhooks/{vendor.id}/events"
        headers = signed(vendor.signing_secret, payload)
    return ThreadPoolExecutor(1).submit(client.post, path, content=payload, headers=headers)


@pytest.mark.postgres
@pytest.mark.parametrize("door", ["api", "webhook"])
def test_a_batch_whose_connection_is_terminated_is_stored_on_a_fresh_one(
    pg: tuple[Engine, str],
    billed: tuple[VendorFixture, str],
    caplog: pytest.LogCaptureFixture,
    door: str,
) -> None:
    engine, url = pg
    vendor, customer_id = billed
    events = [resolved(f"evt_{n}", f"c-{n}") for n in range(3)]
    with TestClient(create_app(Settings(database_url=url))) as client:
        with _customer_locked(engine, customer_id):
            answer = _send(client, vendor, {"events": events}, door)
            _terminate_next_waiter(engine, set())
        response = answer.result(timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3
    assert sorted(_stored(engine)) == ["evt_0", "evt_1", "evt_2"]
    assert "retrying once on a fresh connection" in caplog.text
    assert "terminating connection due to administrator command" in caplog.text


@pytest.mark.postgres
def test_a_second_loss_is_a_503_with_retry_after_and_the_resend_stores_once(
    pg: tuple[Engine, str], billed: tuple[VendorFixture, str], caplog: pytest.LogCaptureFixture
) -> None:
    engine, url = pg
    vendor, customer_id = billed
    event = resolved("evt_1", "c-1")
    with TestClient(create_app(Settings(database_url=url))) as client:
        with _customer_locked(engine, customer_id):
            answer = _send(client, vendor, event)
            seen: set[int] = set()
            _terminate_next_waiter(engine, seen)  # the first attempt
            _terminate_next_waiter(engine, seen)  # and its retry
        response = answer.result(timeout=60)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "2"
        problem = response.json()
        assert problem["type"] == "/problems/database-unavailable"
        assert problem["detail"].startswith("The database is unreachable or the connection")
        assert _stored(engine) == []

        resent = client.post("/v1/events", json=event, headers=_bearer(vendor))
        assert resent.status_code == 201, resent.text
        again = client.post("/v1/events", json=event, headers=_bearer(vendor))
        assert again.status_code == 200
    assert _stored(engine) == ["evt_1"]
    logged = [r for r in caplog.records if r.getMessage().startswith("database fault on POST")]
    assert len(logged) == 1 and logged[0].exc_info is not None


def _bearer(vendor: VendorFixture) -> dict[str, str]:
    return {"Authorization": f"Bearer {vendor.api_key}"}


@pytest.mark.postgres
def test_terminations_under_load_give_no_500_and_lose_or_double_nothing(
    pg: tuple[Engine, str], billed: tuple[VendorFixture, str]
) -> None:
    """Four clients send batches while every app connection is terminated again and again;
    each client resends a batch answered 503 or cut off, as a real client would."""
    engine, url = pg
    vendor, _ = billed
    statuses: list[int] = []
    done = threading.Event()

    def client(number: int, base_url: str) -> None:
        with httpx.Client(base_url=base_url, headers=_bearer(vendor), timeout=60) as http:
            for batch in range(15):
                events = [
                    resolved(f"evt_{number}_{batch}_{n}", f"c-{number}-{batch}-{n}")
                    for n in range(20)
                ]
                for _attempt in range(50):
                    try:
                        response = http.post("/v1/events", json={"events": events})
                    except httpx.TransportError:
                        continue
                    statuses.append(response.status_code)
                    if response.status_code != 503:
                        break

    terminated = 0
    with BackgroundServer(Settings(database_url=url)) as server:
        threads = [
            threading.Thread(target=client, args=(number, server.url)) for number in range(4)
        ]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            pids = _pids(engine, APP_CONNECTIONS)
            _terminate(engine, pids)
            terminated += len(pids)
            done.wait(0.05)
        for thread in threads:
            thread.join()
    assert terminated > 0
    assert 500 not in statuses and all(status in (200, 503) for status in statuses), statuses
    stored = _stored(engine)
    assert len(stored) == len(set(stored)) == 4 * 15 * 20


@pytest.mark.postgres
def test_an_unreachable_database_is_a_503_for_the_api_portal_and_console_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    with BackgroundServer(settings, log_config=None) as server, caplog.at_level(logging.INFO):
        api = httpx.get(f"{server.url}/v1/customers", headers={"Authorization": "Bearer k"})
        page = httpx.get(f"{server.url}/portal/session/t")
        console = httpx.get(f"{server.url}/vendor/login")
    assert api.status_code == 503
    assert api.headers["retry-after"] == "2"
    assert api.json()["type"] == "/problems/database-unavailable"
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "2"
    assert "database" in page.text
    assert console.status_code == 503
    assert console.headers["content-type"].startswith("text/html")
    assert console.headers["retry-after"] == "2"
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert [r.getMessage() for r in tracebacks] == [
        "database fault on GET /v1/customers",
        "database fault on GET /portal/session/t",
        "database fault on GET /vendor/login",
    ]


def test_a_crash_is_logged_once(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path, "crash") as url:
        app = create_app(Settings(database_url=url))

        @app.get("/crash")
        def crash() -> None:
            raise RuntimeError("boom")

        with BackgroundServer(app=app, log_config=None) as server, caplog.at_level(logging.INFO):
            response = httpx.get(f"{server.url}/crash")
    assert response.status_code == 500
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert [r.getMessage() for r in tracebacks] == ["unhandled error on GET /crash"]


def test_an_sqlite_file_that_cannot_be_opened_is_a_503(tmp_path: Path) -> None:
    directory = tmp_path / "metering.db"
    directory.mkdir()  # a directory where the database file should be
    with TestClient(create_app(Settings(database_url=f"sqlite:///{directory}"))) as client:
        response = client.get("/v1/customers", headers={"Authorization": "Bearer k"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["type"] == "/problems/database-unavailable"
