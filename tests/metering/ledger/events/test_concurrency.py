"""The same batch posted by 8 concurrent clients stores each event exactly once (PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.events.helpers import auth, reopen_event, resolved, table

pytestmark = pytest.mark.postgres
CLIENTS = 8


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


def test_eight_clients_posting_one_batch_store_each_event_once(
    app: FastAPI, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    events = [resolved(f"evt_{i:03}", f"c-{i % 50}") for i in range(200)]
    events += [resolved(f"new_{i:03}", "c-x", customer=f"newco-{i % 5}") for i in range(50)]
    events += [reopen_event(f"reopen_{i}", f"c-{i}") for i in range(10)]

    def post(_: int) -> Any:
        # A client per thread: each request runs on its own event loop, so they overlap.
        client = TestClient(app)
        response = client.post("/v1/events", json={"events": events}, headers=auth(vendor.api_key))
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(post, range(CLIENTS)))

    assert sum(result["accepted"] for result in results) == len(events)
    assert sum(result["duplicates"] for result in results) == len(events) * (CLIENTS - 1)
    assert all(result["rejected"] == [] for result in results)
    stored = table(engine, "events", "event_id", order="event_id")
    assert stored == sorted((event["id"],) for event in events)
    customers = table(engine, "customers", "external_id", "status", order="external_id")
    assert customers == [("acme", "provisioned")] + [
        (f"newco-{i}", "unprovisioned") for i in range(5)
    ]
    # One counted outcome per conversation of acme (the reopens happened before the
    # resolutions, so they cancel nothing); the other 150 resolutions are duplicates.
    counted = table(engine, "outcomes", "dedupe_key", "state")
    assert sorted(key for key, row_state in counted if row_state == "counted") == sorted(
        f"c-{i}" for i in range(50)
    )
    assert sorted(row_state for _, row_state in counted) == ["counted"] * 50 + ["duplicate"] * 150
