"""An event's `cost` on receipt: a malformed one is refused per item, naming the field; an
unknown model is stored (it is priced, or reported unpriced, by the margin report)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import auth, recent, table
from tests.metering.surfaces.reports.helpers import RULES


def _call(event_id: str, cost: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "model.call",
        "customer": "acme",
        "timestamp": recent(),
        "properties": {"conversation_id": "c-1"},
        "cost": cost,
    }


def test_malformed_costs_are_refused_one_by_one(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, RULES))
    items = [
        _call("ok-tokens", {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300}),
        _call("ok-money", {"amount": "0.0123", "currency": "usd"}),
        _call("ok-unknown-model", {"model": "gpt-9", "input_tokens": 1, "output_tokens": 1}),
        _call("negative", {"amount": "-0.01", "currency": "usd"}),
        _call("currency", {"amount": "0.01", "currency": "usdollar"}),
        _call("fraction", {"model": "gpt-4o", "input_tokens": 1.5, "output_tokens": 3}),
        _call("shape", {"usd": "0.02"}),
        _call("mixed", {"amount": "0.01", "currency": "usd", "model": "gpt-4o"}),
        _call("not-object", "0.02"),
    ]
    response = app_client.post("/v1/events", json={"events": items}, headers=auth(vendor.api_key))

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 3
    details = {item["id"]: item["detail"] for item in result["rejected"]}
    assert set(details) == {"negative", "currency", "fraction", "shape", "mixed", "not-object"}
    assert details["negative"].startswith("cost.amount: ")
    assert "negative" in details["negative"]
    assert details["currency"].startswith("cost.currency: ")
    assert details["fraction"].startswith("cost.input_tokens: ")
    assert "whole number" in details["fraction"]
    assert details["shape"].startswith("cost: ")
    assert '{"amount": "0.0123", "currency": "usd"}' in details["shape"]
    assert details["mixed"].startswith("cost.model: ")
    assert details["not-object"].startswith("cost: expected a JSON object")
    stored = table(engine, "events", "event_id", "status", order="event_id")
    assert stored == [
        ("ok-money", "unmatched"),
        ("ok-tokens", "unmatched"),
        ("ok-unknown-model", "unmatched"),
    ]
