"""GET /v1/reports/margin: the vendor's margin report over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.metering.conftest import (
    SUPPORT_RULES,
    VendorFixture,
    create_customer,
    create_plan,
    create_vendor,
)
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.reports.helpers import REPORTED, RULES, month_of_conversations


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan)
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    return customer


def test_report_per_customer_and_outcome(app_client: Any, vendor: VendorFixture, acme: str) -> None:
    response = app_client.get(
        "/v1/reports/margin", params={"period": "2026-11"}, headers=bearer(vendor.api_key)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == "2026-11"
    (row,) = body["customers"]
    assert row["customer_id"] == acme
    assert row["customer"] == "acme"
    assert row["outcomes"] == [
        {
            "outcome": "resolved_conversation",
            "settled": 1,
            "pending": 0,
            "revenue": "0.99",
            "cost": "0.021",
            "margin": "0.969",
            "margin_percent": "97.88",
            "values": [],
        }
    ]
    assert (row["other_revenue"], row["revenue"]) == ("20.00", "20.99")
    assert (row["unbilled_cost"], row["cost"], row["margin"]) == ("0.057", "0.078", "20.912")
    assert row["unpriced"] == [
        {"reason": "model 'gpt-9' has no token prices in the rule file", "events": 1}
    ]
    (totals,) = body["totals"]
    assert totals["currency"] == "usd"
    assert totals["outcomes"] == row["outcomes"]
    assert (totals["revenue"], totals["cost"], totals["margin"]) == ("20.99", "0.078", "20.912")


def test_filters_by_customer_and_plan(
    engine: Engine, app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    sales = create_plan(engine, vendor.id, SUPPORT_RULES.replace("support-agent", "sales-agent"))
    other = create_customer(engine, vendor.id, "globex", sales)
    headers = bearer(vendor.api_key)
    both = app_client.get("/v1/reports/margin?period=2026-11", headers=headers).json()
    assert [row["customer"] for row in both["customers"]] == ["acme", "globex"]
    only = app_client.get(
        "/v1/reports/margin", params={"period": "2026-11", "customer": other}, headers=headers
    ).json()
    assert [row["customer"] for row in only["customers"]] == ["globex"]
    by_plan = app_client.get(
        "/v1/reports/margin",
        params={"period": "2026-11", "plan": "support-agent"},
        headers=headers,
    ).json()
    assert [row["customer"] for row in by_plan["customers"]] == ["acme"]


def test_errors(engine: Engine, app_client: Any, vendor: VendorFixture, acme: str) -> None:
    headers = bearer(vendor.api_key)
    assert app_client.get("/v1/reports/margin?period=2026-11").status_code == 401
    bad = app_client.get("/v1/reports/margin?period=november", headers=headers)
    assert bad.status_code == 422
    assert "expected a month such as 2026-11" in bad.json()["detail"]
    stranger = create_vendor(engine, "Other AI")
    foreign = app_client.get(
        "/v1/reports/margin",
        params={"period": "2026-11", "customer": acme},
        headers=bearer(stranger.api_key),
    )
    assert foreign.status_code == 404
    unknown_plan = app_client.get("/v1/reports/margin?period=2026-11&plan=nope", headers=headers)
    assert unknown_plan.status_code == 404


def test_openapi_describes_the_report(app_client: Any) -> None:
    spec = app_client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/reports/margin"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"period", "customer", "plan"}
    assert "MarginReportOut" in spec["components"]["schemas"]
