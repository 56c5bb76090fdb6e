"""`POST /v1/customers/{id}/credit_grants` with `purchase`: a one-line invoice sells the grant
through the customer's payment provider (here `manual`: the vendor records the payment), and
the grant is usable once that invoice is paid."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.platform.db.types import utcnow
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.platform.api.support import bearer, keyed


def _customer(engine: Engine, vendor: VendorFixture, plan_id: str, provider: str) -> str:
    customer_id = create_customer(engine, vendor.id, "acme", plan_id)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.payment_provider = provider
        session.add(customer)
        session.commit()
    return customer_id


def _get(client: TestClient, vendor: VendorFixture, path: str) -> Any:
    answer = client.get(path, headers=bearer(vendor.api_key))
    assert answer.status_code == 200, answer.text
    return answer.json()


BODY = {
    "amount": "50.00",
    "category": "paid",
    "name": "Top-up",
    "purchase": {"price": "45.00"},
}


def test_bought_grant_waits_for_its_manual_invoice_to_be_paid(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    auth = bearer(vendor.api_key)

    made = app_client.post(
        f"/v1/customers/{customer_id}/credit_grants", json=BODY, headers=keyed(vendor.api_key)
    )

    assert made.status_code == 201, made.text
    grant = made.json()
    assert (grant["status"], grant["remaining"], grant["amount"]) == (
        "pending_payment",
        "0.00",
        "50.00",
    )
    invoice = _get(app_client, vendor, f"/v1/invoices/{grant['purchase_invoice_id']}")
    assert (invoice["kind"], invoice["status"], invoice["total"]) == (
        "credit_purchase",
        "issued",
        "45.00",
    )
    assert [(line["kind"], line["description"], line["amount"]) for line in invoice["lines"]] == [
        ("credit_purchase", "Prepaid credits: 50.00 USD", "45.00")
    ]
    balance = _get(app_client, vendor, f"/v1/customers/{customer_id}/credit_balance")
    assert balance["balances"][0]["available"] == "0.00"

    paid = app_client.post(
        f"/v1/invoices/{invoice['id']}/payments",
        json={"amount": "45.00", "paid_on": utcnow().date().isoformat(), "reference": "TRX-9"},
        headers=auth,
    )

    assert paid.status_code == 201, paid.text
    assert paid.json()["invoice"]["status"] == "paid"
    after = _get(app_client, vendor, f"/v1/credit_grants/{grant['id']}")
    assert (after["status"], after["remaining"]) == ("active", "50.00")
    balance = _get(app_client, vendor, f"/v1/customers/{customer_id}/credit_balance")
    assert balance["balances"][0]["available"] == "50.00"
    ledger = _get(app_client, vendor, f"/v1/customers/{customer_id}/credit_ledger")
    assert [(e["kind"], e["amount"]) for e in ledger["data"]] == [("grant", "50.00")]


def test_purchase_without_a_configured_provider_is_refused_and_nothing_is_written(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "stripe")  # the app has no Stripe key

    refused = app_client.post(
        f"/v1/customers/{customer_id}/credit_grants", json=BODY, headers=keyed(vendor.api_key)
    )

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/credit-purchase-unavailable"
    assert problem["errors"][0]["field"] == "purchase"
    grants = _get(app_client, vendor, f"/v1/customers/{customer_id}/credit_grants")
    assert grants["data"] == []
    assert _get(app_client, vendor, "/v1/invoices")["data"] == []


def test_purchase_price_with_too_many_decimals_is_refused(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    body = {**BODY, "purchase": {"price": "45.001"}}

    refused = app_client.post(
        f"/v1/customers/{customer_id}/credit_grants", json=body, headers=keyed(vendor.api_key)
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "purchase.price", "message": "has more decimals than USD has (2)"}
    ]
    assert _get(app_client, vendor, "/v1/invoices")["data"] == []
