"""Payment methods through Stripe: the setup page (a Checkout Session in setup mode) opened by
the vendor API, the method Stripe reports made the customer's default, the customer's failed
payments tried again at once, and what the manual provider answers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import InvoiceStatus
from metering.catalog.customers.models import Customer
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.conftest import VendorFixture
from tests.metering.platform.api.support import bearer
from tests.metering.providers.stripe.factory import (
    NOW,
    billing,
    invoice_row,
    issued_invoice,
    stripe_customer_of,
)
from tests.metering.providers.stripe.test_webhook import signed
from tests.stripe_fake.harness import FakeStripe

RETURN = "https://app.acme.test/billing"


def open_session(client: TestClient, vendor: VendorFixture, customer_id: str) -> Any:
    return client.post(
        f"/v1/customers/{customer_id}/payment_method_session",
        json={"return_url": RETURN},
        headers=bearer(vendor.api_key),
    )


def deliver(client: TestClient, event: dict[str, Any]) -> Any:
    payload = json.dumps(event).encode()
    return client.post("/v1/stripe/webhook", content=payload, headers=signed(payload))


def method_on_file(client: TestClient, vendor: VendorFixture, customer_id: str) -> Any:
    answer = client.get(
        f"/v1/customers/{customer_id}/payment_method", headers=bearer(vendor.api_key)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def session_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_customer_without_a_stripe_account_adds_a_card_that_becomes_its_default(
    engine: Engine, client: TestClient, vendor: VendorFixture, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, vendor_id=vendor.id)
    assert stripe_customer_of(engine, billed.customer_id) is None
    assert method_on_file(client, vendor, billed.customer_id) is None

    opened = open_session(client, vendor, billed.customer_id)

    assert opened.status_code == 201, opened.text
    stripe_customer = stripe_customer_of(engine, billed.customer_id)
    assert stripe_customer is not None  # made now, before any invoice
    checkout = fake_stripe.client().v1.checkout.sessions.retrieve(session_id(opened.json()["url"]))
    assert (checkout.mode, checkout.customer, checkout.success_url, checkout.currency) == (
        "setup",
        stripe_customer,
        RETURN,
        "usd",
    )
    assert method_on_file(client, vendor, billed.customer_id) is None

    events = fake_stripe.complete_checkout(checkout.id, "pm_card_visa")
    answers = [deliver(client, event) for event in events]

    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["applied"] for a in answers] == [True, True]
    assert answers[0].json()["detail"] == "default payment method set: visa ending 4242"
    assert method_on_file(client, vendor, billed.customer_id) == {
        "kind": "card",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
    }
    remote = fake_stripe.client().v1.customers.retrieve(stripe_customer)
    assert remote.invoice_settings is not None
    assert remote.invoice_settings.default_payment_method is not None
    assert deliver(client, events[0]).json()["duplicate"] is True


def test_a_new_card_retries_the_failed_invoice_at_once_and_it_is_paid_once(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    bare = fake_stripe.client().v1.customers.create({"name": "Bare"}).id
    billed = billing(engine, stripe_customer_id=bare, vendor_id=vendor.id)
    invoice_id = issued_invoice(engine, billed, ["20.00", "4.99"])
    sync_due(engine, settings, now=NOW)
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAYMENT_FAILED

    opened = open_session(client, vendor, billed.customer_id).json()
    events = fake_stripe.complete_checkout(session_id(opened["url"]), "pm_card_visa")
    before = utcnow()
    first = deliver(client, events[0]).json()

    due = invoice_row(engine, invoice_id).next_sync_at
    assert due is not None and before - timedelta(seconds=5) <= due <= utcnow()
    assert first["detail"].endswith("; 1 failed invoice(s) tried again now")
    fake_stripe.clear_requests()
    sync_due(engine, settings)
    second = deliver(client, events[1]).json()  # the other event of the same setup
    sync_due(engine, settings)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.PAID
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert (remote.status, remote.amount_paid) == ("paid", 2499)
    pays = [r for r in fake_stripe.requests() if r["path"].endswith("/pay")]
    assert [r["status"] for r in pays] == [200]  # charged once
    assert "tried again" not in second["detail"]


def test_stripe_failing_while_the_method_is_set_is_a_503_and_the_redelivery_applies_it(
    engine: Engine, client: TestClient, vendor: VendorFixture, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, vendor_id=vendor.id)
    opened = open_session(client, vendor, billed.customer_id).json()
    events = fake_stripe.complete_checkout(session_id(opened["url"]), "pm_card_visa")
    fake_stripe.fault(500, path="/v1/customers/", method="POST")

    failed = deliver(client, events[1])
    again = deliver(client, events[1])

    assert failed.status_code == 503
    assert failed.json()["type"] == "/problems/provider-unavailable"
    assert (again.status_code, again.json()["applied"]) == (200, True)
    assert method_on_file(client, vendor, billed.customer_id)["last4"] == "4242"


def test_a_setup_for_a_stripe_customer_not_ours_changes_nothing(
    engine: Engine, client: TestClient, fake_stripe: FakeStripe
) -> None:
    theirs = fake_stripe.client().v1.customers.create({"name": "Not ours"}).id
    event = {
        "id": "evt_not_ours",
        "object": "event",
        "type": "setup_intent.succeeded",
        "data": {"object": {"object": "setup_intent", "id": "seti_x", "customer": theirs}},
    }
    fake_stripe.clear_requests()

    answer = deliver(client, event).json()

    assert (answer["applied"], answer["detail"]) == (False, "not one of our customers")
    assert fake_stripe.requests() == []


def test_a_manual_customer_has_no_payment_method_to_set(
    engine: Engine, client: TestClient, vendor: VendorFixture, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, vendor_id=vendor.id)
    with Session(engine) as session:
        customer = session.get_one(Customer, billed.customer_id)
        customer.payment_provider = "manual"
        session.add(customer)
        session.commit()

    opened = open_session(client, vendor, billed.customer_id)
    shown = client.get(
        f"/v1/customers/{billed.customer_id}/payment_method", headers=bearer(vendor.api_key)
    )

    for answer in (opened, shown):
        assert answer.status_code == 409
        assert answer.json()["type"] == "/problems/payment-method-not-supported"
        assert "pays through 'manual'" in answer.json()["detail"]
    assert stripe_customer_of(engine, billed.customer_id) is None
