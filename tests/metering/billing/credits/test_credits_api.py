"""The credits API: grants, void, adjustments, the ledger and the balance; bad input is a
problem naming the field and writes nothing (both DBs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.platform.db.types import utcnow
from tests.metering.billing.credits.helpers import (
    JPY_RULES,
    RULES,
    assert_ledger_right,
    resolutions,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer, keyed


def customer_on(engine: Engine, vendor: VendorFixture, rules: str = RULES) -> str:
    return create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, rules))


def post_grant(
    client: TestClient, vendor: VendorFixture, customer: str, **body: Any
) -> dict[str, Any]:
    response = client.post(
        f"/v1/customers/{customer}/credit_grants", json=body, headers=keyed(vendor.api_key)
    )
    result: dict[str, Any] = response.json()
    result["_status"] = response.status_code
    return result


def stored(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        grants = len(session.exec(select(CreditGrant)).all())
        return grants, len(session.exec(select(CreditEntry)).all())


def test_grant_list_get_void_and_ledger(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer = customer_on(engine, vendor)
    made = post_grant(
        app_client,
        vendor,
        customer,
        amount="120.00",
        category="paid",
        name="Pack",
        metadata={"deal": "Q4"},
    )
    assert made["_status"] == 201
    assert (made["amount"], made["remaining"], made["currency"], made["status"]) == (
        "120.00",
        "120.00",
        "usd",
        "active",
    )
    assert (made["priority"], made["metadata"], made["applies_to"]) == (100, {"deal": "Q4"}, None)
    # Defaults: usable from the request (effective_at is now), never expires.
    assert (made["effective_at"], made["expires_at"]) == (made["created_at"], None)
    post_grant(app_client, vendor, customer, amount="5", name="Promo")
    headers = bearer(vendor.api_key)

    adjusted = app_client.post(
        f"/v1/credit_grants/{made['id']}/adjustments",
        json={"amount": "-20.00", "reason": "goodwill taken back"},
        headers=keyed(vendor.api_key),
    )
    assert adjusted.status_code == 200
    assert adjusted.json()["remaining"] == "100.00"
    voided = app_client.post(
        f"/v1/credit_grants/{made['id']}/void", json={"reason": "churned"}, headers=headers
    )
    assert (voided.status_code, voided.json()["status"], voided.json()["remaining"]) == (
        200,
        "voided",
        "0.00",
    )
    again = app_client.post(f"/v1/credit_grants/{made['id']}/void", headers=headers)
    assert (again.status_code, again.json()["type"]) == (409, "/problems/credit-grant-voided")

    first = app_client.get(f"/v1/customers/{customer}/credit_grants?limit=1", headers=headers)
    assert [g["name"] for g in first.json()["data"]] == ["Pack"]
    second = app_client.get(
        f"/v1/customers/{customer}/credit_grants?limit=1&cursor={first.json()['next_cursor']}",
        headers=headers,
    )
    assert [g["name"] for g in second.json()["data"]] == ["Promo"]
    assert second.json()["next_cursor"] is None
    assert app_client.get(f"/v1/credit_grants/{made['id']}", headers=headers).json()["voided_at"]

    ledger = app_client.get(
        f"/v1/customers/{customer}/credit_ledger?grant={made['id']}", headers=headers
    ).json()
    assert [(e["kind"], e["amount"], e["reason"]) for e in ledger["data"]] == [
        ("grant", "120.00", None),
        ("manual_adjustment", "-20.00", "goodwill taken back"),
        ("void", "-100.00", "churned"),
    ]
    paged = app_client.get(f"/v1/customers/{customer}/credit_ledger?limit=2", headers=headers)
    assert len(paged.json()["data"]) == 2 and paged.json()["next_cursor"]
    assert_ledger_right(engine)


BAD_INPUT = [
    ({"amount": "0"}, "amount", "not above zero"),
    ({"amount": "-5.00"}, "amount", "not above zero"),
    ({"amount": "1.234"}, "amount", "more decimals than usd has (2)"),
    ({"amount": "10", "currency": "eur"}, "currency", "not billed in eur"),
    (
        {
            "amount": "10",
            "effective_at": "2026-12-01T00:00:00Z",
            "expires_at": "2026-12-01T00:00:00Z",
        },
        "expires_at",
        "after effective_at",
    ),
    ({"amount": "10", "applies_to": ["Nope"]}, "applies_to", "no charge named Nope"),
    ({"amount": "10", "purchase": {"price": "9.00"}}, "purchase", "only a paid grant"),
    (
        {"amount": "10", "category": "paid", "purchase": {"price": "9.00"}},
        "purchase",
        "payment provider (stripe) is not configured",  # no Stripe key in these tests
    ),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_INPUT)
def test_bad_input_names_the_field_and_writes_nothing(
    app_client: TestClient,
    engine: Engine,
    vendor: VendorFixture,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    customer = customer_on(engine, vendor)
    answer = post_grant(app_client, vendor, customer, **body)
    assert answer["_status"] == 422
    [error] = answer["errors"]
    assert error["field"] == field
    assert message in error["message"]
    assert stored(engine) == (0, 0)


def test_a_jpy_grant_has_no_minor_digits(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer = customer_on(engine, vendor, JPY_RULES)
    refused = post_grant(app_client, vendor, customer, amount="100.5")
    assert (refused["_status"], refused["errors"][0]["field"]) == (422, "amount")
    assert "more decimals than jpy has (0)" in refused["detail"]
    made = post_grant(app_client, vendor, customer, amount="5000")
    assert (made["_status"], made["amount"], made["currency"]) == (201, "5000", "jpy")


def test_balance_projects_the_open_period(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    customer = customer_on(engine, vendor, RULES.replace("      after: 24h\n", "      after: 0s\n"))
    now = utcnow()
    soon = post_grant(
        app_client,
        vendor,
        customer,
        amount="10.00",
        name="Soon",
        priority=1,
        expires_at=(now + timedelta(days=10)).isoformat(),
    )
    post_grant(app_client, vendor, customer, amount="100.00", name="Big")
    post_grant(  # expires in 40 days: not among those expiring in the next 30
        app_client,
        vendor,
        customer,
        amount="5.00",
        name="Later",
        priority=200,
        expires_at=(now + timedelta(days=40)).isoformat(),
    )
    resolutions(engine, vendor.id, "now", 3, now - timedelta(seconds=5))

    answer = app_client.get(
        f"/v1/customers/{customer}/credit_balance", headers=bearer(vendor.api_key)
    ).json()

    [usd] = answer["balances"]
    # 3 x 2.50 + 20.00 = 27.50: 10.00 from "Soon" (priority 1), 17.50 from "Big".
    assert (usd["currency"], usd["available"], usd["projected_draw"]) == ("usd", "115.00", "27.50")
    assert usd["available_after_projection"] == "87.50"
    assert [(g["grant_id"], g["remaining"]) for g in usd["expiring_soon"]] == [
        (soon["id"], "10.00")
    ]

    upcoming = app_client.get(
        f"/v1/customers/{customer}/upcoming_invoice", headers=bearer(vendor.api_key)
    ).json()
    assert [(c["description"], c["amount"]) for c in upcoming["credits"]] == [
        ("Credits: Soon", "-10.00"),
        ("Credits: Big", "-17.50"),
    ]
    assert upcoming["total"] == "0.00"
