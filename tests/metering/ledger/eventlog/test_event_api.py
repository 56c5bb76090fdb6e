"""The event API of a vendor with the event log reads it: the list (cost-only events
included) pages and filters as the SQL store's does, and a cost-only event can be read and
voided, which takes its cost out of the margin report as a void on the SQL path does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.events.service import void
from metering.surfaces.app import create_app
from metering.surfaces.reports.service import margin_report
from tests.metering.conftest import (
    VendorFixture,
    create_customer,
    create_plan,
    create_vendor,
    receiving_settings,
)
from tests.metering.ledger.eventlog.helpers import set_eventlog
from tests.metering.ledger.eventlog.test_margin_equivalence import _events, _figures
from tests.metering.ledger.events.helpers import auth, ingest_all
from tests.metering.surfaces.reports.helpers import REPORTED, RULES


def _vendor(engine: Engine, name: str, eventlog: bool) -> VendorFixture:
    vendor = create_vendor(engine, name)
    set_eventlog(engine, vendor.id, eventlog)
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan)
    create_customer(engine, vendor.id, "globex", plan)
    return vendor


def _two_vendors(engine: Engine) -> tuple[VendorFixture, VendorFixture]:
    """The same events, in three requests and a retry, to a vendor without the event log
    and one with it; one stored event voided in both."""
    plain = _vendor(engine, "Plain", eventlog=False)
    logged = _vendor(engine, "Logged", eventlog=True)
    events = _events()
    for vendor in (plain, logged):
        for second, batch in enumerate((events[:4], events[4:9], events[9:], events[::4])):
            ingest_all(engine, vendor.id, batch, REPORTED + timedelta(seconds=second))
        with Session(engine) as session:
            void(session, vendor.id, "o-3", "sent twice", now=REPORTED + timedelta(hours=1))
            session.commit()
    return plain, logged


def _shown(event: dict[str, Any]) -> dict[str, Any]:
    """An event as both vendors show it (their own ids of customers and plans aside)."""
    plan = event["plan_version_id"]
    return {**event, "customer_id": None, "plan_version_id": plan is not None}


def _pages(client: TestClient, api_key: str, query: dict[str, Any]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = query | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/events", params=params, headers=auth(api_key))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([_shown(e)["id"] for e in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def _all(client: TestClient, api_key: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get("/v1/events", params=query | {"limit": 500}, headers=auth(api_key))
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [_shown(e) for e in response.json()["data"]]


def _client(database_url: str) -> TestClient:
    return TestClient(create_app(receiving_settings(database_url=database_url)))


QUERIES: list[dict[str, Any]] = [
    {},
    {"customer": "globex"},
    {"type": "model.call"},
    {"status": "unmatched"},
    {"status": "counted"},
    {"status": "voided"},
    {"from": "2026-11-11T00:00:00Z", "to": "2026-11-13T00:00:00Z"},
    {"customer": "acme", "type": "model.call", "from": "2026-11-10T10:00:00Z"},
]


@pytest.mark.usefixtures("eventlog_url")
def test_the_event_list_is_the_same_with_the_event_log(engine: Engine, database_url: str) -> None:
    plain, logged = _two_vendors(engine)
    with _client(database_url) as client:
        for query in QUERIES:
            expected = _all(client, plain.api_key, query)
            assert _all(client, logged.api_key, query) == expected, query
            assert _pages(client, logged.api_key, query | {"limit": 2}) == _pages(
                client, plain.api_key, query | {"limit": 2}
            )
        listed = _all(client, logged.api_key, {})
        bad = client.get(
            "/v1/events", params={"cursor": "bm90IG91cnM"}, headers=auth(logged.api_key)
        )
    ids = [event["id"] for event in listed]
    # request order, then id order inside a request; the cost-only calls are listed too
    calls = ["e-1", "e-2", "e-3", "r-1", "e-4", "e-5", "e-6", "o-3", "r-3", "e-7", "g-1", "g-2"]
    assert ids == [*calls, "late"]
    assert listed[0]["cost"] == {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300}
    assert listed[0]["status"] == "unmatched"
    assert listed[0]["received_at"] == "2026-12-02T00:00:00Z"
    voided = next(event for event in listed if event["id"] == "o-3")
    assert voided["void"] == {"reason": "sent twice", "voided_at": "2026-12-02T01:00:00Z"}
    assert bad.status_code == 400


@pytest.mark.usefixtures("eventlog_url")
def test_a_cost_only_event_is_voided_once_and_leaves_the_margin_report(
    engine: Engine, database_url: str
) -> None:
    plain, logged = _two_vendors(engine)
    with _client(database_url) as client:
        answers = {
            vendor_id: [
                client.post(
                    "/v1/events/e-1/void", json={"reason": reason}, headers=auth(key)
                ).json()
                for reason in ("test traffic", "again")
            ]
            for vendor_id, key in ((plain.id, plain.api_key), (logged.id, logged.api_key))
        }
        shown = client.get("/v1/events/e-1", headers=auth(logged.api_key)).json()
        missing = client.post(
            "/v1/events/nope/void", json={"reason": "x"}, headers=auth(logged.api_key)
        )
        voided = _all(client, logged.api_key, {"status": "voided"})

    first, again = answers[logged.id]
    assert first["status"] == "voided"
    assert first["void"]["reason"] == "test traffic"
    assert again["void"] == first["void"]  # voiding again changes nothing
    assert shown["void"] == first["void"] and shown["outcomes"] == []
    assert _shown(first) | {"void": None} == _shown(answers[plain.id][0]) | {"void": None}
    assert missing.status_code == 404
    assert [event["id"] for event in voided] == ["e-1", "o-3"]
    with Session(engine) as session:
        expected = margin_report(session, plain.id, "2026-11", REPORTED)
        found = margin_report(session, logged.id, "2026-11", REPORTED)
    assert _figures(found) == _figures(expected)
    acme = next(row for row in found.customers if row.customer == "acme")
    assert acme.cost == Decimal("0.078") - Decimal("0.006")  # e-1 cost 0.003 + 0.003
