"""Listing, reading and voiding events through the API; another vendor's events are 404."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.conftest import VendorFixture, create_customer, create_vendor
from tests.metering.ledger.events.helpers import auth, recent, reopen_event, resolved, table


def _send(client: TestClient, vendor: VendorFixture, *events: dict[str, object]) -> None:
    response = client.post(
        "/v1/events", json={"events": list(events)}, headers=auth(vendor.api_key)
    )
    assert response.status_code == 200
    assert response.json()["rejected"] == []


def test_list_filters_and_pages_with_a_cursor(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    acme = create_customer(engine, vendor.id, "acme", plan_id)
    _send(
        app_client,
        vendor,
        resolved("e1", "c-1", timestamp=recent(50)),
        resolved("e2", "c-1", timestamp=recent(40)),
        resolved("e3", "c-3", customer="globex", timestamp=recent(30)),
        reopen_event("e4", "c-9"),
        resolved("e5", "c-5", timestamp=recent(10)),
    )
    key = auth(vendor.api_key)

    def ids(query: str) -> list[str]:
        response = app_client.get(f"/v1/events?{query}", headers=key)
        assert response.status_code == 200, response.text
        return [event["id"] for event in response.json()["data"]]

    assert ids("") == ["e1", "e2", "e3", "e4", "e5"]
    assert ids("customer=acme") == ["e1", "e2", "e4", "e5"]
    assert ids(f"customer={acme}&type=conversation.resolved") == ["e1", "e2", "e5"]
    assert ids("customer=globex") == ["e3"]
    unknown = app_client.get("/v1/events?customer=nobody", headers=key)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "No customer 'nobody'."
    assert ids("status=duplicate") == ["e2"]
    assert ids("status=unmatched") == ["e3"]
    assert ids("status=reversal") == ["e4"]
    start, end = recent(45).replace(":", "%3A"), recent(10).replace(":", "%3A")
    assert ids(f"from={start}&to={end}") == ["e2", "e3"]

    first = app_client.get("/v1/events?limit=2", headers=key).json()
    assert [event["id"] for event in first["data"]] == ["e1", "e2"]
    second = app_client.get(f"/v1/events?limit=2&cursor={first['next_cursor']}", headers=key)
    assert [event["id"] for event in second.json()["data"]] == ["e3", "e4"]
    third = app_client.get(
        f"/v1/events?limit=2&cursor={second.json()['next_cursor']}", headers=key
    ).json()
    assert [event["id"] for event in third["data"]] == ["e5"]
    assert third["next_cursor"] is None

    bad_status = app_client.get("/v1/events?status=lost", headers=key)
    assert bad_status.status_code == 422
    naive = app_client.get("/v1/events?from=2026-11-01T00:00:00", headers=key)
    assert naive.status_code == 422
    assert naive.json()["detail"] == (
        "query parameter from: add a timezone (Z or an offset) to 2026-11-01T00:00:00"
    )


def test_get_one_shows_status_and_outcome_rows(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    _send(app_client, vendor, resolved("e1", "c-1", timestamp="2026-11-02T09:00:00Z"))
    response = app_client.get("/v1/events/e1", headers=auth(vendor.api_key))
    assert response.status_code == 200
    event = response.json()
    assert event["status"] == "counted"
    assert event["timestamp"] == "2026-11-02T09:00:00Z"
    assert event["void"] is None
    assert [
        (o["outcome"], o["state"], o["dedupe_key"], o["period_start"], o["settles_at"])
        for o in event["outcomes"]
    ] == [
        (
            "resolved_conversation",
            "counted",
            "c-1",
            "2026-11-01T00:00:00Z",
            "2026-11-05T09:00:00Z",
        )
    ]
    missing = app_client.get("/v1/events/nope", headers=auth(vendor.api_key))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No event 'nope'."


def test_a_measured_value_is_a_decimal_string_as_documented(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    deal = {
        "id": "d1",
        "type": "deal.closed",
        "customer": "acme",
        "timestamp": "2026-11-02T09:00:00Z",
        "properties": {"amount": 1250.5, "deal_id": "d-7"},
    }
    _send(app_client, vendor, deal)
    response = app_client.get("/v1/events/d1", headers=auth(vendor.api_key))
    # The event's properties stay as sent; the outcome's value is a string like every amount.
    assert response.json()["properties"]["amount"] == 1250.5
    [outcome] = response.json()["outcomes"]
    assert (outcome["outcome"], outcome["value"]) == ("pipeline_value", "1250.5")
    schema = app_client.get("/openapi.json").json()["components"]["schemas"]["OutcomeOut"]
    assert schema["properties"]["value"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


def test_void_promotes_the_next_candidate_and_is_idempotent(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    _send(
        app_client,
        vendor,
        resolved("e1", "c-1", timestamp=recent(50)),
        resolved("e2", "c-1", timestamp=recent(40)),
    )
    key = auth(vendor.api_key)
    response = app_client.post("/v1/events/e1/void", json={"reason": "test traffic"}, headers=key)
    assert response.status_code == 200
    assert response.json()["status"] == "voided"
    assert response.json()["void"]["reason"] == "test traffic"
    assert [o["state"] for o in response.json()["outcomes"]] == ["voided"]
    again = app_client.post("/v1/events/e1/void", json={"reason": "other"}, headers=key)
    assert again.status_code == 200
    assert again.json()["void"]["reason"] == "test traffic"
    assert table(engine, "events", "event_id", "status", order="event_id") == [
        ("e1", "voided"),
        ("e2", "counted"),
    ]
    assert table(engine, "event_voids", "reason") == [("test traffic",)]
    empty = app_client.post("/v1/events/e2/void", json={"reason": ""}, headers=key)
    assert empty.status_code == 422
    assert table(engine, "event_voids", "reason") == [("test traffic",)]


def test_another_vendor_cannot_read_list_or_void_events(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    _send(app_client, vendor, resolved("e1", "c-1"))
    other = create_vendor(engine, "Intruder")
    intruder = auth(other.api_key)

    assert app_client.get("/v1/events/e1", headers=intruder).status_code == 404
    assert app_client.get("/v1/events", headers=intruder).json() == {
        "data": [],
        "next_cursor": None,
    }
    theirs = app_client.get("/v1/events?customer=acme", headers=intruder)
    assert theirs.status_code == 404 and theirs.json()["detail"] == "No customer 'acme'."
    voided = app_client.post("/v1/events/e1/void", json={"reason": "x"}, headers=intruder)
    assert voided.status_code == 404
    assert voided.json()["detail"] == "No event 'e1'."
    # The intruder's own event with the same id is its own, stored separately.
    assert (
        app_client.post("/v1/events", json=resolved("e1", "c-1"), headers=intruder).status_code
        == 201
    )
    assert set(table(engine, "events", "vendor_id", "event_id", "status")) == {
        (vendor.id, "e1", "counted"),
        (other.id, "e1", "unmatched"),
    }
    assert table(engine, "event_voids", "reason") == []


def test_ids_with_slashes_can_be_read_and_voided(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    _send(app_client, vendor, resolved("crm/deal/7", "c-7", timestamp=recent(30)))
    key = auth(vendor.api_key)
    for path in ("/v1/events/crm/deal/7", "/v1/events/crm%2Fdeal%2F7"):
        response = app_client.get(path, headers=key)
        assert response.status_code == 200, path
        assert response.json()["id"] == "crm/deal/7"
    voided = app_client.post("/v1/events/crm/deal/7/void", json={"reason": "dup"}, headers=key)
    assert voided.status_code == 200
    assert table(engine, "events", "event_id", "status") == [("crm/deal/7", "voided")]
