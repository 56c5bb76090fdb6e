"""The portal's payment pages against the Stripe fake: the failed-payment banner, the payment
method on file and its "Add or update" button through Stripe Checkout, and the "Pay" link of
send_invoice invoices with their due date."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import InvoiceStatus
from metering.catalog.customers.models import Customer
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.conftest import VendorFixture
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice
from tests.metering.providers.stripe.test_webhook import signed
from tests.metering.surfaces.portal.helpers import csrf_of, sign_in
from tests.metering.surfaces.portal.test_invoices_pages import text_of as page_text
from tests.stripe_fake.harness import FakeStripe

BANNER = (
    "Payment failed for invoice #1. No payment method is on file for the customer. "
    "Update your payment method: it is tried again as soon as you do."
)


def text_of(page: str) -> str:
    """The page's text as read (a link ending a sentence leaves no space before its stop)."""
    return page_text(page).replace(" .", ".").replace(" :", ":").replace(" ,", ",")


def test_a_failed_payment_shows_a_banner_and_a_new_card_pays_it(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    bare = fake_stripe.client().v1.customers.create({"name": "Bare"}).id
    billed = billing(engine, stripe_customer_id=bare, vendor_id=vendor.id)
    invoice_id = issued_invoice(engine, billed, ["20.00"])
    sync_due(engine, settings, now=NOW)
    sign_in(client, vendor.api_key, billed.customer_id)

    invoices_page = client.get("/portal/invoices").text
    payment_page = client.get("/portal/payment")

    assert BANNER in text_of(invoices_page)
    assert 'href="/portal/payment#payment-method"' in invoices_page
    assert BANNER in text_of(payment_page.text)
    assert "Payment method No payment method on file." in text_of(payment_page.text)
    assert "Add payment method" in payment_page.text
    assert "#1 Payment failed Charged automatically $20.00" in text_of(payment_page.text)

    refused = client.post("/portal/payment/setup", data={"csrf_token": "forged"})
    to_stripe = client.post(
        "/portal/payment/setup",
        data={"csrf_token": csrf_of(payment_page.text)},
        follow_redirects=False,
    )

    assert refused.status_code == 403
    assert to_stripe.status_code == 303
    checkout = fake_stripe.client().v1.checkout.sessions.retrieve(
        to_stripe.headers["location"].rsplit("/", 1)[1]
    )
    assert (checkout.mode, checkout.customer) == ("setup", bare)
    assert checkout.success_url == "http://testserver/portal/payment?updated"
    for event in fake_stripe.complete_checkout(checkout.id, "pm_card_visa"):
        payload = json.dumps(event).encode()
        client.post("/v1/stripe/webhook", content=payload, headers=signed(payload))
    # The webhook makes the invoice due at the real time it arrives: sync after that.
    sync_due(engine, settings, now=max(NOW + timedelta(days=30), utcnow() + timedelta(seconds=1)))

    back = client.get("/portal/payment?updated")
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID
    assert "Visa card ending in 4242, expires 12/2030" in text_of(back.text)
    assert "Update payment method" in back.text
    assert "Payment failed" not in back.text
    assert "Nothing to pay: every invoice is paid." in back.text


def test_send_invoice_customers_see_pay_with_the_due_date(
    engine: Engine,
    client: TestClient,
    vendor: VendorFixture,
    settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    card = fake_stripe.customer_with_card()
    billed = billing(
        engine,
        stripe_customer_id=card,
        collection_method="send_invoice",
        days_until_due=14,
        vendor_id=vendor.id,
    )
    invoice_id = issued_invoice(engine, billed, ["41.58", "15.00"])
    sync_due(engine, settings, now=NOW)
    hosted = invoice_row(engine, invoice_id).stripe_hosted_url
    assert hosted is not None
    sign_in(client, vendor.api_key, billed.customer_id)

    listed = client.get("/portal/invoices").text
    payment = client.get("/portal/payment").text
    detail = client.get(f"/portal/invoices/{invoice_id}").text

    assert f'id="pay-{invoice_id}" href="{hosted}"' in listed
    assert "Issued Nov 4, 2026 Nov 18, 2026 Pay invoice #1 (opens in a new tab) $56.58" in (
        text_of(listed)
    )
    assert "#1 Open Nov 18, 2026 $56.58 Pay invoice #1" in text_of(payment)
    assert f'href="{hosted}"' in payment
    assert "Due Nov 18, 2026 Status Open Total $56.58" in text_of(detail)
    assert "Pay $56.58 by Nov 18, 2026 (opens in a new tab)" in text_of(detail)
    assert "Line 2 2 $15.00" in text_of(detail)  # a line no charge names shows its description
    assert "Payment failed" not in listed


def test_a_manual_customer_is_told_its_vendor_collects(
    engine: Engine, client: TestClient, vendor: VendorFixture, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, vendor_id=vendor.id)
    with Session(engine) as session:
        customer = session.get_one(Customer, billed.customer_id)
        customer.payment_provider = "manual"
        session.add(customer)
        session.commit()
    sign_in(client, vendor.api_key, billed.customer_id)

    page = client.get("/portal/payment")
    setup = client.post("/portal/payment/setup", data={"csrf_token": csrf_of(page.text)})

    assert "Your invoices are not charged to a payment method" in page.text
    assert "Add payment method" not in page.text
    assert setup.status_code == 409
    assert "Contact your vendor to pay." in setup.text
    assert fake_stripe.requests() == []
