"""Linking a vendor's existing Stripe customer through the customers API: checked in Stripe,
linked once, and used by the sync instead of making a customer."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments import links
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.conftest import create_vendor
from tests.metering.platform.api.support import bearer
from tests.metering.providers.stripe.factory import (
    NOW,
    billing,
    invoice_row,
    issued_invoice,
    stripe_customer_of,
)
from tests.stripe_fake.harness import FakeStripe


def _created(client: TestClient, key: str, **fields: Any) -> Any:
    return client.post("/v1/customers", json={"external_id": "acme", **fields}, headers=bearer(key))


def _api_key(engine: Engine, name: str) -> str:
    return create_vendor(engine, name).api_key


def test_create_links_an_existing_stripe_customer_and_refuses_an_unknown_one(
    engine: Engine, client: TestClient, fake_stripe: FakeStripe
) -> None:
    existing = fake_stripe.customer_with_card()
    key = _api_key(engine, "Acme AI")

    unknown = _created(client, key, stripe_customer_id="cus_NotInStripe")
    malformed = _created(client, key, stripe_customer_id="acme")
    made = _created(client, key, stripe_customer_id=existing)
    shown = client.get(f"/v1/customers/{made.json()['id']}", headers=bearer(key))

    assert unknown.status_code == 422
    assert unknown.json()["type"] == "/problems/stripe-customer-invalid"
    assert "Stripe has no customer 'cus_NotInStripe'" in unknown.json()["detail"]
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "stripe_customer_id"
    assert made.status_code == 201, made.text
    assert made.json()["stripe_customer_id"] == existing
    assert shown.json()["stripe_customer_id"] == existing
    assert stripe_customer_of(engine, made.json()["id"]) == existing


def test_a_refused_link_creates_no_customer(
    engine: Engine, client: TestClient, fake_stripe: FakeStripe
) -> None:
    key = _api_key(engine, "Acme AI")

    refused = _created(client, key, stripe_customer_id="cus_NotInStripe")
    listed = client.get("/v1/customers", headers=bearer(key)).json()["data"]

    assert refused.status_code == 422
    assert listed == []


def test_patch_links_once_and_one_stripe_customer_pays_for_one_of_ours(
    engine: Engine, client: TestClient, fake_stripe: FakeStripe
) -> None:
    existing = fake_stripe.customer_with_card()
    key = _api_key(engine, "Acme AI")
    first = _created(client, key).json()
    second = client.post(
        "/v1/customers", json={"external_id": "globex"}, headers=bearer(key)
    ).json()
    assert first["stripe_customer_id"] is None

    linked = client.patch(
        f"/v1/customers/{first['id']}", json={"stripe_customer_id": existing}, headers=bearer(key)
    )
    fake_stripe.clear_requests()
    again = client.patch(
        f"/v1/customers/{first['id']}", json={"stripe_customer_id": existing}, headers=bearer(key)
    )
    taken = client.patch(
        f"/v1/customers/{second['id']}", json={"stripe_customer_id": existing}, headers=bearer(key)
    )
    null = client.patch(
        f"/v1/customers/{first['id']}", json={"stripe_customer_id": None}, headers=bearer(key)
    )

    assert linked.status_code == 200, linked.text
    assert linked.json()["stripe_customer_id"] == existing
    assert again.json()["stripe_customer_id"] == existing
    assert fake_stripe.requests() == []  # the same link again asks Stripe nothing
    assert taken.status_code == 409
    assert taken.json()["type"] == "/problems/stripe-customer-conflict"
    assert taken.json()["customer_id"] == first["id"]
    assert null.status_code == 422
    assert "stripe_customer_id: cannot be null" in null.json()["detail"]


def test_the_sync_collects_through_the_linked_customer_and_makes_none(
    engine: Engine, client: TestClient, settings: Settings, fake_stripe: FakeStripe
) -> None:
    existing = fake_stripe.customer_with_card()
    vendor = create_vendor(engine, "Acme AI")
    billed = billing(engine, vendor_id=vendor.id)
    stranger = _api_key(engine, "Another vendor")
    path = f"/v1/customers/{billed.customer_id}"

    foreign = client.patch(path, json={"stripe_customer_id": existing}, headers=bearer(stranger))
    patched = client.patch(
        path, json={"stripe_customer_id": existing}, headers=bearer(vendor.api_key)
    )

    assert foreign.status_code == 404
    assert patched.status_code == 200, patched.text
    invoice_id = issued_invoice(engine, billed, ["41.58", "15.00"])
    fake_stripe.clear_requests()

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.PAID
    made = [r for r in fake_stripe.requests() if r["method"] == "POST"]
    assert not any(r["path"] == "/v1/customers" for r in made)
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert (remote.customer, remote.amount_paid) == (existing, 5658)


def test_the_link_cannot_move_while_an_invoice_is_being_made_under_it(
    engine: Engine, client: TestClient, settings: Settings, fake_stripe: FakeStripe
) -> None:
    first, other = fake_stripe.customer_with_card(), fake_stripe.customer_with_card()
    vendor = create_vendor(engine, "Acme AI")
    billed = billing(engine, stripe_customer_id=first, vendor_id=vendor.id)
    invoice_id = issued_invoice(engine, billed, ["8.00"])
    with engine.begin() as connection:
        connection.execute(
            links.LINKS.update()
            .where(links.LINKS.c.invoice_id == invoice_id)
            .values(step="invoice_created")
        )

    moved = client.patch(
        f"/v1/customers/{billed.customer_id}",
        json={"stripe_customer_id": other},
        headers=bearer(vendor.api_key),
    )

    assert moved.status_code == 409
    assert moved.json()["invoice_id"] == invoice_id
    assert stripe_customer_of(engine, billed.customer_id) == first
