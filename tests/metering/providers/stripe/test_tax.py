"""Tax through Stripe Tax, optional per vendor: the customer's address and tax ids (checked)
sent with its Stripe customer, `automatic_tax` on the Stripe invoice, our subtotal checked
against Stripe's, and the tax lines and total with tax Stripe computed recorded and shown.
The fake computes a fixed 19 % VAT for Germany and none elsewhere (tests/stripe_fake)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
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
from tests.metering.surfaces.portal.helpers import sign_in
from tests.metering.surfaces.portal.test_invoices_pages import text_of
from tests.stripe_fake.harness import FakeStripe

BERLIN = {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "de"}
VAT_ID = {"type": "eu_vat", "value": "DE 123456789"}


def with_tax(client: TestClient, vendor: VendorFixture) -> None:
    answer = client.patch(
        "/v1/vendor/tax", json={"provider": "stripe"}, headers=bearer(vendor.api_key)
    )
    assert answer.json() == {"provider": "stripe"}


def located(client: TestClient, vendor: VendorFixture, customer_id: str, **fields: Any) -> Any:
    answer = client.patch(
        f"/v1/customers/{customer_id}", json=fields, headers=bearer(vendor.api_key)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def api_invoice(client: TestClient, vendor: VendorFixture, invoice_id: str) -> Any:
    return client.get(f"/v1/invoices/{invoice_id}", headers=bearer(vendor.api_key)).json()


def test_addresses_and_tax_ids_are_checked(client: TestClient, vendor: VendorFixture) -> None:
    auth = bearer(vendor.api_key)

    def refused(**fields: Any) -> list[str]:
        answer = client.post("/v1/customers", json={"external_id": "acme", **fields}, headers=auth)
        assert answer.status_code == 422, answer.text
        return [f"{error['field']}: {error['message']}" for error in answer.json()["errors"]]

    assert refused(address={"city": "Berlin", "country": "XX"}) == [
        "address.country: Value error, 'XX' is not an ISO 3166-1 alpha-2 country code (DE, US...)"
    ]
    assert refused(address={"city": "Berlin"})[0].startswith("address.country: Field required")
    assert refused(tax_ids=[{"type": "eu_vat", "value": "US123456789"}]) == [
        "tax_ids[0]: Value error, 'US123456789' does not start with an EU country prefix "
        "(DE, FR, EL...)"
    ]
    assert refused(tax_ids=[{"type": "gb_vat", "value": "GB12"}]) == [
        "tax_ids[0]: Value error, 'GB12' is not a valid gb_vat number"
    ]
    assert refused(tax_ids=[{"type": "xx_tax", "value": "1"}])[0].startswith("tax_ids[0].type")

    made = client.post(
        "/v1/customers",
        json={"external_id": "acme", "address": BERLIN, "tax_ids": [VAT_ID]},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    assert made.json()["address"] == {**BERLIN, "country": "DE"}
    assert made.json()["tax_ids"] == [{"type": "eu_vat", "value": "DE123456789"}]
    assert client.get("/v1/vendor/tax", headers=auth).json() == {"provider": None}


def test_stripe_tax_adds_vat_our_subtotal_matches_and_the_total_with_tax_is_paid(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    card = fake_stripe.customer_with_card()
    billed = billing(engine, stripe_customer_id=card, vendor_id=vendor.id)
    with_tax(client, vendor)
    located(client, vendor, billed.customer_id, address=BERLIN, tax_ids=[VAT_ID])
    invoice_id = issued_invoice(engine, billed, ["41.58", "15.00"])
    fake_stripe.clear_requests()

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_error) == (InvoiceStatus.PAID, None)
    stripe = fake_stripe.client()
    remote = stripe.v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert remote.automatic_tax.enabled is True
    # 56.58 x 19 % = 10.7502 -> 10.75; Stripe charges 67.33.
    assert (remote.subtotal, remote.total, remote.amount_paid) == (5658, 6733, 6733)
    customer = stripe.v1.customers.retrieve(card)
    assert customer.address is not None and customer.address.country == "DE"
    tax_ids = stripe.v1.customers.tax_ids.list(card).data
    assert [(t.type, t.value) for t in tax_ids] == [("eu_vat", "DE123456789")]
    shown = api_invoice(client, vendor, invoice_id)
    assert (shown["total"], shown["tax"], shown["total_with_tax"]) == ("56.58", "10.75", "67.33")
    assert shown["tax_lines"] == [{"description": "VAT (DE)", "rate": "19", "amount": "10.75"}]
    assert (shown["amount_paid"], shown["amount_due"]) == ("67.33", "0.00")

    sign_in(client, vendor.api_key, billed.customer_id)
    page = text_of(client.get(f"/portal/invoices/{invoice_id}").text)
    listed = text_of(client.get("/portal/invoices").text)
    assert "Subtotal $56.58 Tax $10.75 Total $67.33" in page
    assert "Subtotal $56.58 VAT (DE) (19%) $10.75 Total $67.33" in page
    assert "$67.33" in listed


def test_a_customer_without_an_address_is_not_collected_and_says_why(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    card = fake_stripe.customer_with_card()
    billed = billing(engine, stripe_customer_id=card, vendor_id=vendor.id)
    with_tax(client, vendor)
    invoice_id = issued_invoice(engine, billed, ["20.00"])

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.next_sync_at is None  # stops: an operator adds the address, then retries
    assert "[customer_tax_location_invalid]" in (invoice.sync_error or "")
    assert "Add a valid address to the customer" in (invoice.sync_error or "")
    assert not [r for r in fake_stripe.requests() if r["path"].endswith("/pay")]


def test_outside_the_taxed_country_the_tax_is_zero(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    billed = billing(engine, vendor_id=vendor.id)
    with_tax(client, vendor)
    located(client, vendor, billed.customer_id, address={"country": "US", "state": "CA"})
    invoice_id = issued_invoice(engine, billed, ["20.00"], collection_method="send_invoice")

    sync_due(engine, settings, now=NOW)

    made = fake_stripe.client().v1.customers.retrieve(
        stripe_customer_of(engine, billed.customer_id) or ""
    )
    assert made.address is not None and made.address.country == "US"
    shown = api_invoice(client, vendor, invoice_id)
    assert (shown["tax"], shown["tax_lines"], shown["total_with_tax"]) == ("0.00", [], "20.00")
    assert shown["amount_due"] == "20.00"


def test_without_tax_configured_nothing_changes(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    card = fake_stripe.customer_with_card()
    billed = billing(engine, stripe_customer_id=card, vendor_id=vendor.id)
    located(client, vendor, billed.customer_id, address=BERLIN)
    invoice_id = issued_invoice(engine, billed, ["20.00"])

    sync_due(engine, settings, now=NOW)

    remote = fake_stripe.client().v1.invoices.retrieve(
        invoice_row(engine, invoice_id).stripe_invoice_id or ""
    )
    assert remote.automatic_tax.enabled is False
    assert (remote.total, remote.amount_paid) == (2000, 2000)
    shown = api_invoice(client, vendor, invoice_id)
    assert (shown["tax"], shown["tax_lines"], shown["total_with_tax"]) == (None, [], "20.00")
    assert shown["status"] == "paid"
