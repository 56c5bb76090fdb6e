"""The allowance check and the customer spend limit through the API (both databases).

4.00 per resolved conversation, settled after 24 h, under a 10.00 block maximum.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.vendors.models import ApiKey
from metering.platform.api.clock import request_now
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.ledger.events.helpers import auth, ingest_all, resolved
from tests.metering.ledger.limits.helpers import rules, state

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
"""The API answers as of this moment (mid-period, mid-hour), not the real clock."""


@pytest.fixture(autouse=True)
def fixed_clock(app: Any) -> None:
    app.dependency_overrides[request_now] = lambda: NOW


def resolutions(engine: Engine, vendor_id: str, *hours_ago: float, prefix: str = "acme") -> None:
    """One resolved conversation per entry, that many hours before now."""
    events = [
        resolved(
            f"{prefix}-{i}",
            f"{prefix}-c{i}",
            timestamp=(NOW - timedelta(hours=h)).isoformat(),
        )
        for i, h in enumerate(hours_ago)
    ]
    ingest_all(engine, vendor_id, events, NOW)


def allowance(client: Any, vendor: VendorFixture, customer_id: str, outcome: str) -> Any:
    return client.get(
        f"/v1/customers/{customer_id}/allowance",
        params={"outcome": outcome},
        headers=auth(vendor.api_key),
    )


def setup(engine: Engine, vendor: VendorFixture, plan: str | None = None) -> str:
    return create_customer(
        engine, vendor.id, "acme", create_plan(engine, vendor.id, plan or rules())
    )


def test_ok_then_blocked_with_the_spend_and_what_is_left(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    customer_id = setup(engine, vendor)
    answer = allowance(app_client, vendor, customer_id, "resolved_conversation")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["state"], body["remaining_units"]) == ("ok", "2")
    assert body["period_spend"] == {"settled": "0.00", "pending": "0.00", "total": "0.00"}
    assert body["remaining_credit"] is None
    # One settled (30 h ago, settle 24 h), one pending (1 h ago): 8.00 of 10.00 = 80%.
    resolutions(engine, vendor.id, 30, 1)
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert body["period_spend"] == {"settled": "4.00", "pending": "4.00", "total": "8.00"}
    # A third (12.00) would cross 10.00: none fit, so the check already answers blocked.
    assert (body["state"], body["remaining_units"], body["units_used"]) == ("blocked", "0", "2")
    assert body["limit"] == {
        "kind": "plan_maximum",
        "on_reach": "block",
        "amount": "10.00",
        "units": None,
        "used": "8.00",
        "used_percent": "80.00",
        "warn_at": 80,
        "reached": True,
    }
    assert body["reason"] == "the plan's maximum of 10.00 is reached (8.00 used, on_reach block)."


def test_settled_is_exact_to_the_moment_not_the_hour(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    # Settle 24 h: the first settled at 12:10 today, the second at 12:30 (now, so settled),
    # the third settles at 12:50. All three are in the hour under way (12:00 to 13:00).
    plan = rules(limits='maximum: {amount: "100.00", on_reach: block}')
    customer_id = setup(engine, vendor, plan)
    resolutions(engine, vendor.id, 24 + 20 / 60, 24, 24 - 20 / 60)
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert body["period_spend"] == {"settled": "8.00", "pending": "4.00", "total": "12.00"}
    assert (body["units_used"], body["remaining_units"]) == ("3", "22")


def test_warning_from_the_vendor_percentage(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    plan = rules(limits='maximum: {amount: "20.00", on_reach: block, warn_at: 50}')
    customer_id = setup(engine, vendor, plan)
    resolutions(engine, vendor.id, 1, 2)  # 8.00 of 20.00: 40%
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert (body["state"], body["remaining_units"]) == ("ok", "3")
    resolutions(engine, vendor.id, 3, prefix="more")  # 12.00 of 20.00: 60%
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert (body["state"], body["remaining_units"], body["period_spend"]["total"]) == (
        "warning",
        "2",
        "12.00",
    )
    assert body["reason"] == "60.00% of the plan's maximum of 20.00 is used (warning from 50%)."


def test_a_unit_limit_counts_units(engine: Engine, vendor: VendorFixture, app_client: Any) -> None:
    plan = rules(limits="", outcome_extra="    limit: {units: 3, on_reach: block}\n")
    customer_id = setup(engine, vendor, plan)
    resolutions(engine, vendor.id, 1, 2)
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert (body["state"], body["remaining_units"]) == ("ok", "1")
    assert body["limit"]["kind"] == "outcome_units"
    assert (body["limit"]["units"], body["limit"]["used"]) == ("3", "2")


def test_unlimited_answers_null_remaining(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    customer_id = setup(engine, vendor, rules(limits=""))
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert (body["state"], body["remaining_units"], body["limit"]) == ("ok", None, None)


def test_unknown_customer_and_unknown_outcome(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    customer_id = setup(engine, vendor)
    missing = allowance(app_client, vendor, "cus_nope", "resolved_conversation")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No customer 'cus_nope'."
    wrong = allowance(app_client, vendor, customer_id, "lead")
    assert wrong.status_code == 422
    assert wrong.json()["errors"] == [
        {
            "field": "outcome",
            "message": "the plan in force has no outcome 'lead'; "
            "expected one of: resolved_conversation",
        }
    ]


def test_the_key_is_checked_in_the_same_read_revoked_at_once_and_vendors_apart(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    """The check reads the API key in its own statement (no cached key): a revoked key is
    refused from the next call, and another vendor's key does not see the customer."""
    customer_id = setup(engine, vendor)
    missing = app_client.get(
        f"/v1/customers/{customer_id}/allowance", params={"outcome": "resolved_conversation"}
    )
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    unknown = allowance(app_client, replace(vendor, api_key="mk_live_nope"), customer_id, "x")
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "The API key is not valid (unknown or revoked)."
    other = create_vendor(engine, "Other AI")
    assert allowance(app_client, other, customer_id, "resolved_conversation").status_code == 404
    batch = app_client.post(
        "/v1/allowance",
        json={"outcome": "resolved_conversation", "customer_ids": [customer_id]},
        headers=auth(other.api_key),
    )
    assert batch.json()["data"][0]["problem"]["status"] == 404
    assert allowance(app_client, vendor, customer_id, "resolved_conversation").status_code == 200
    with Session(engine) as session:
        for key in session.exec(select(ApiKey).where(ApiKey.vendor_id == vendor.id)):
            key.revoked_at = NOW
            session.add(key)
        session.commit()
    revoked = allowance(app_client, vendor, customer_id, "resolved_conversation")
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "The API key is not valid (unknown or revoked)."


def test_batch_answers_each_customer_and_refuses_more_than_100(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    customer_id = setup(engine, vendor)
    resolutions(engine, vendor.id, 1)
    answer = app_client.post(
        "/v1/allowance",
        json={"outcome": "resolved_conversation", "customer_ids": [customer_id, "cus_nope"]},
        headers=auth(vendor.api_key),
    )
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["data"]
    assert (first["customer_id"], first["allowance"]["state"]) == (customer_id, "ok")
    assert first["allowance"]["period_spend"]["total"] == "4.00"
    assert second["allowance"] is None
    assert (second["problem"]["status"], second["problem"]["detail"]) == (
        404,
        "No customer 'cus_nope'.",
    )
    too_many = app_client.post(
        "/v1/allowance",
        json={"outcome": "resolved_conversation", "customer_ids": ["c"] * 101},
        headers=auth(vendor.api_key),
    )
    assert too_many.status_code == 422
    assert [e["field"] for e in too_many.json()["errors"]] == ["customer_ids"]


def test_spend_limit_lowers_the_plan_and_holds_outcomes_past_it(
    engine: Engine, vendor: VendorFixture, app_client: Any
) -> None:
    customer_id = setup(engine, vendor)
    resolutions(engine, vendor.id, 2, 1)  # 8.00 counted
    url = f"/v1/customers/{customer_id}/spend_limit"
    for amount, message in (
        ("0", "a spend limit must be above zero, got 0"),
        ("-5", "a spend limit must be above zero, got -5"),
        ("10.01", "10.01 is above the plan's maximum of 10.00; it can only lower it"),
        ("5.001", "5.001 has more decimals than usd has (2)"),
    ):
        refused = app_client.put(url, json={"amount": amount}, headers=auth(vendor.api_key))
        assert refused.status_code == 422, amount
        assert refused.json()["errors"] == [{"field": "amount", "message": message}]
    answer = app_client.put(
        url, json={"amount": "5.00", "on_reach": "block"}, headers=auth(vendor.api_key)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"customer_id": customer_id, "amount": "5.00", "on_reach": "block"}
    # Only the earlier outcome (4.00) fits under 5.00; the later one is held.
    assert state(engine) == {
        "acme-0": ("counted", ["counted"]),
        "acme-1": ("over_limit", ["over_limit"]),
    }
    body = allowance(app_client, vendor, customer_id, "resolved_conversation").json()
    assert (body["state"], body["over_limit"], body["period_spend"]["total"]) == (
        "blocked",
        1,
        "4.00",
    )
    assert body["limit"]["kind"] == "customer_spend_limit"
    removed = app_client.delete(url, headers=auth(vendor.api_key))
    assert removed.json() == {"customer_id": customer_id, "amount": None, "on_reach": None}
    assert state(engine)["acme-1"] == ("counted", ["counted"])
