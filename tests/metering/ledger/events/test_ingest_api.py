"""Ingestion through both doors, on SQLite and PostgreSQL: what is stored, what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.conftest import VendorFixture, create_customer, create_vendor
from tests.metering.ledger.events.helpers import (
    auth,
    batch,
    body,
    cloudevent,
    recent,
    resolved,
    signed,
    structured,
    table,
)


def _events(engine: Engine) -> list[tuple[Any, ...]]:
    return table(engine, "events", "event_id", "customer_external_id", "status", order="event_id")


def test_one_event_is_stored_with_its_outcome(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    event = resolved("evt_1", "c-1", timestamp="2026-11-02T09:15:00+01:00")
    event["timestamp"] = recent(30)
    response = app_client.post("/v1/events", json=event, headers=auth(vendor.api_key))

    assert response.status_code == 201
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [],
        "events": [{"index": 0, "id": "evt_1", "status": "counted"}],
    }
    assert _events(engine) == [("evt_1", "acme", "counted")]
    assert table(engine, "outcomes", "event_id", "outcome", "dedupe_key", "state") == [
        ("evt_1", "resolved_conversation", "c-1", "counted")
    ]
    again = app_client.post("/v1/events", json=event, headers=auth(vendor.api_key))
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert again.json()["accepted"] == 0
    assert len(_events(engine)) == 1


def test_batch_stores_valid_items_and_reports_each_invalid_one(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    items = [
        resolved("evt_1", "c-1"),
        {
            "id": "evt_2",
            "type": "conversation.resolved",
            "customer": "acme",
            "timestamp": "2026-11-31T10:00:00Z",
        },
        resolved("evt_3", "c-3", timestamp=future),
        {"id": 7, "type": "x", "customer": "acme", "timestamp": recent()},
        resolved("evt_1", "c-1"),
        resolved("evt_5", "c-5") | {"properties": {"blob": "x" * 33_000}},
        {"type": "conversation.resolved", "customer": "acme", "timestamp": recent()},
        "not an event",
        resolved("evt_9", "c-9", customer="newco"),
    ]
    response = app_client.post("/v1/events", json={"events": items}, headers=auth(vendor.api_key))

    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 2
    assert result["duplicates"] == 1
    rejected = {item["index"]: item for item in result["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 5, 6, 7]
    assert rejected[1] == {
        "index": 1,
        "id": "evt_2",
        "status": 422,
        "detail": "timestamp: expected an ISO 8601 date-time such as 2026-11-28T14:03:00Z, "
        "got '2026-11-31T10:00:00Z'",
    }
    assert rejected[2]["detail"].startswith("timestamp: ")
    assert "is more than 5 minutes in the future" in rejected[2]["detail"]
    assert rejected[3] == {
        "index": 3,
        "id": None,
        "status": 422,
        "detail": "id: expected a string, got the number 7",
    }
    assert rejected[5]["detail"].startswith("properties: 33")
    assert rejected[5]["detail"].endswith("over the limit of 32768 bytes (32 KiB)")
    assert rejected[6]["detail"] == "id: is required"
    assert rejected[7]["detail"] == "expected an event object, got the string 'not an event'"
    assert _events(engine) == [("evt_1", "acme", "unmatched"), ("evt_9", "newco", "unmatched")]
    assert table(engine, "customers", "external_id", "status", order="external_id") == [
        ("acme", "unprovisioned"),
        ("newco", "unprovisioned"),
    ]
    assert table(engine, "subscriptions", "id") == []

    retry = app_client.post("/v1/events", json={"events": items}, headers=auth(vendor.api_key))
    assert retry.json()["accepted"] == 0
    assert retry.json()["duplicates"] == 3
    assert len(_events(engine)) == 2


def test_same_id_with_other_content_is_a_conflict_never_an_overwrite(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    original = resolved("evt_1", "c-1")
    assert (
        app_client.post("/v1/events", json=original, headers=auth(vendor.api_key)).status_code
        == 201
    )
    changed = original | {"properties": {"conversation_id": "c-2"}}

    single = app_client.post("/v1/events", json=changed, headers=auth(vendor.api_key))
    assert single.status_code == 409
    assert single.headers["content-type"] == "application/problem+json"
    detail = (
        "event 'evt_1' was already stored with different content; an event id is stored once "
        "and never overwritten, so send a change as a new event with a new id"
    )
    assert single.json()["detail"] == detail
    assert single.json()["status"] == 409

    in_batch = app_client.post(
        "/v1/events",
        json={"events": [changed, resolved("evt_2", "c-2"), resolved("evt_2", "c-9")]},
        headers=auth(vendor.api_key),
    )
    assert in_batch.status_code == 200
    assert in_batch.json()["accepted"] == 1
    assert in_batch.json()["rejected"] == [
        {"index": 0, "id": "evt_1", "status": 409, "detail": detail},
        {
            "index": 2,
            "id": "evt_2",
            "status": 409,
            "detail": "event 'evt_2' appears earlier in this batch (index 1) with different "
            "content; an event id is stored once and never overwritten, so send a change as a "
            "new event with a new id",
        },
    ]
    assert table(engine, "outcomes", "event_id", "dedupe_key", "state", order="event_id") == [
        ("evt_1", "c-1", "counted"),
        ("evt_2", "c-2", "counted"),
    ]


def test_cloudevents_structured_and_batch(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    data = {"conversation_id": "c-1", "channel": "email", "handled_by": "ai"}
    headers, payload = structured(cloudevent("ce_1", "acme", data))
    assert headers["content-type"] == "application/cloudevents+json"
    response = app_client.post(
        "/v1/events", content=payload, headers=headers | auth(vendor.api_key)
    )
    assert response.status_code == 201
    assert response.json()["events"] == [{"index": 0, "id": "ce_1", "status": "counted"}]

    events = [
        cloudevent("ce_1", "acme", data),
        cloudevent("ce_2", "acme", data | {"conversation_id": "c-2"}),
        cloudevent("ce_3", "acme", {"conversation_id": "c-1"}, type="conversation.reopened"),
    ]
    response = app_client.post(
        "/v1/events",
        content=batch(events),
        headers={"content-type": "application/cloudevents-batch+json"} | auth(vendor.api_key),
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert response.json()["duplicates"] == 1
    got = app_client.get("/v1/events/ce_1", headers=auth(vendor.api_key)).json()
    assert got["properties"] == data
    assert got["customer"] == "acme"
    # The reopen happened at the same time as the resolution, so it reverses it.
    assert got["status"] == "reversed"
    assert _events(engine) == [
        ("ce_1", "acme", "reversed"),
        ("ce_2", "acme", "counted"),
        ("ce_3", "acme", "reversal"),
    ]


def _problem(response: Any, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    assert document["title"] == title
    return document


def test_bad_requests_are_problems_and_store_nothing(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    key = auth(vendor.api_key)
    malformed = app_client.post(
        "/v1/events",
        content=b'{"id": "evt_1", ',
        headers=key | {"content-type": "application/json"},
    )
    assert _problem(malformed, 400, "Malformed JSON")["detail"].startswith(
        "The body is not valid JSON: Expecting property name enclosed in double quotes"
    )
    too_many = {"events": [resolved(f"evt_{i}", f"c-{i}") for i in range(1001)]}
    assert _problem(
        app_client.post("/v1/events", json=too_many, headers=key), 413, "Too Many Events"
    )["detail"] == (
        "The batch has 1001 events; at most 1000 are accepted per request. "
        "Split it into smaller batches."
    )
    huge = b'{"events": [' + b" " * (5 * 1024 * 1024) + b"]}"
    assert (
        _problem(
            app_client.post("/v1/events", content=huge, headers=key), 413, "Content Too Large"
        )["detail"]
        == "The body exceeds the limit of 5242880 bytes (5 MiB)."
    )
    assert (
        _problem(
            app_client.post("/v1/events", json={"events": []}, headers=key),
            422,
            "Invalid Event Envelope",
        )["detail"]
        == "events is empty; send at least one event."
    )
    assert _problem(
        app_client.post(
            "/v1/events", content=b"id=1", headers=key | {"content-type": "text/plain"}
        ),
        415,
        "Unsupported Media Type",
    )["detail"].startswith("Content-Type 'text/plain' is not accepted")
    invalid = _problem(
        app_client.post(
            "/v1/events",
            json={"id": "evt_1", "type": "t", "customer": "acme", "timestamp": "yesterday"},
            headers=key,
        ),
        422,
        "Invalid Event",
    )
    assert invalid["detail"] == (
        "timestamp: expected an ISO 8601 date-time such as 2026-11-28T14:03:00Z, got 'yesterday'"
    )
    assert invalid["rejected"] == [
        {"index": 0, "id": "evt_1", "status": 422, "detail": invalid["detail"]}
    ]
    unauthenticated = app_client.post("/v1/events", json=resolved("evt_1", "c-1"))
    _problem(unauthenticated, 401, "Unauthorized")
    wrong_key = app_client.post(
        "/v1/events", json=resolved("evt_1", "c-1"), headers=auth("mk_live_nope")
    )
    _problem(wrong_key, 401, "Unauthorized")
    assert _events(engine) == []
    assert table(engine, "customers", "external_id") == []


def test_webhook_accepts_signed_deliveries_only(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    url = f"/v1/webhooks/{vendor.id}/events"
    payload = body({"events": [resolved("evt_1", "c-1"), resolved("evt_2", "c-2")]})

    response = app_client.post(url, content=payload, headers=signed(vendor.signing_secret, payload))
    assert response.status_code == 200
    assert response.json()["accepted"] == 2

    other = create_vendor(engine, "Other")
    forged = app_client.post(url, content=payload, headers=signed(other.signing_secret, payload))
    assert _problem(forged, 401, "Unauthorized")["detail"].startswith(
        "webhook-signature matches none of the vendor's signing secrets"
    )
    stale_at = datetime.now(UTC) - timedelta(minutes=6)
    stale = app_client.post(
        url, content=payload, headers=signed(vendor.signing_secret, payload, at=stale_at)
    )
    assert "tolerance is 300 seconds" in _problem(stale, 401, "Unauthorized")["detail"]
    unsigned = app_client.post(url, content=payload, headers={"content-type": "application/json"})
    _problem(unsigned, 401, "Unauthorized")
    unknown = app_client.post(
        "/v1/webhooks/ven_nobody/events",
        content=payload,
        headers=signed(vendor.signing_secret, payload),
    )
    assert _problem(unknown, 404, "Not Found")["detail"] == "No vendor 'ven_nobody'."
    malformed = b'{"events": ['
    bad_json = app_client.post(
        url, content=malformed, headers=signed(vendor.signing_secret, malformed)
    )
    _problem(bad_json, 400, "Malformed JSON")
    assert _events(engine) == [("evt_1", "acme", "counted"), ("evt_2", "acme", "counted")]


def test_late_events_are_stored_with_outcomes_in_their_period(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    """A period closed long ago still gets the event's outcome row (the next close bills it
    as a correction) and is marked stale."""
    acme = create_customer(engine, vendor.id, "acme", plan_id)
    long_ago = resolved("evt_old", "c-1", timestamp="2025-01-15T10:00:00Z")
    response = app_client.post("/v1/events", json=long_ago, headers=auth(vendor.api_key))
    assert response.status_code == 201
    assert response.json()["events"] == [{"index": 0, "id": "evt_old", "status": "counted"}]
    assert _events(engine) == [("evt_old", "acme", "counted")]
    rows = table(engine, "outcomes", "event_id", "period_start", "period_end", "state")
    assert [(e, _utc(s), _utc(p), st) for e, s, p, st in rows] == [
        ("evt_old", "2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00", "counted")
    ]
    marks = table(engine, "stale_periods", "customer_id", "period_start", "generation")
    assert [(c, _utc(p), g) for c, p, g in marks] == [(acme, "2025-01-01T00:00:00+00:00", 1)]


def _utc(value: object) -> str:
    """A stored timestamp as UTC ISO text (SQLite hands back text, PostgreSQL datetimes)."""
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat()


def test_exact_decimals_round_trip(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    text = (
        '{"id": "evt_d", "type": "deal.closed", "customer": "acme", "timestamp": "'
        + recent()
        + '", "properties": {"amount": 1234.5678901234567890123, "n": 3}}'
    )
    response = app_client.post("/v1/events", content=text.encode(), headers=auth(vendor.api_key))
    assert response.status_code == 201
    raw = app_client.get("/v1/events/evt_d", headers=auth(vendor.api_key)).text
    assert '"properties":{"amount":1234.5678901234567890123,"n":3}' in raw
    assert json.loads(raw)["status"] == "unmatched"


def test_large_batches_keep_every_event_once_with_duplicates_and_conflicts(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    """Batches of a hundred events (PostgreSQL stages them with COPY): repeats and reused
    ids inside a batch and across batches, two events per conversation (one counts)."""
    create_customer(engine, vendor.id, "acme", plan_id)
    first = [resolved(f"evt_{n:03}", f"c-{n // 2}") for n in range(100)]
    first.insert(6, first[5])  # the same event twice: a duplicate
    first.insert(9, resolved("evt_007", "c-99"))  # evt_007 (index 8) with other content
    answer = app_client.post("/v1/events", json={"events": first}, headers=auth(vendor.api_key))

    assert answer.status_code == 200
    assert (answer.json()["accepted"], answer.json()["duplicates"]) == (100, 1)
    assert answer.json()["rejected"] == [
        {
            "index": 9,
            "id": "evt_007",
            "status": 409,
            "detail": "event 'evt_007' appears earlier in this batch (index 8) with different "
            "content; an event id is stored once and never overwritten, so send a change as a "
            "new event with a new id",
        }
    ]
    second = [resolved(f"evt_{n:03}", f"c-{n // 2}") for n in range(50, 150)]
    second[10] = resolved("evt_060", "c-98")  # stored with other content
    again = app_client.post("/v1/events", json={"events": second}, headers=auth(vendor.api_key))

    assert (again.json()["accepted"], again.json()["duplicates"]) == (50, 49)
    assert again.json()["rejected"] == [
        {
            "index": 10,
            "id": "evt_060",
            "status": 409,
            "detail": "event 'evt_060' was already stored with different content; an event id "
            "is stored once and never overwritten, so send a change as a new event with a new id",
        }
    ]
    assert [item["id"] for item in again.json()["events"]] == [
        f"evt_{n:03}" for n in range(100, 150)
    ]
    events = _events(engine)
    assert [event_id for event_id, _, _ in events] == [f"evt_{n:03}" for n in range(150)]
    outcomes = table(engine, "outcomes", "event_id", "dedupe_key", "state", order="event_id")
    assert [(event_id, key) for event_id, key, _ in outcomes] == [
        (f"evt_{n:03}", f"c-{n // 2}") for n in range(150)
    ]
    counted = [key for _, key, state in outcomes if state == "counted"]
    assert sorted(counted) == sorted(f"c-{n}" for n in range(75))  # one per conversation
    statuses = {event_id: status for event_id, _, status in events}
    states = {event_id: state for event_id, _, state in outcomes}
    assert statuses == states  # each event's status follows its one outcome row
    answered = {item["id"]: item["status"] for item in again.json()["events"]}
    assert answered == {event_id: statuses[event_id] for event_id in answered}
