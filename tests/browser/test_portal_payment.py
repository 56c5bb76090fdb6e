"""A failed payment in Chromium: the banner on every page says why in plain words and leads
to the Payment page. (Stripe Checkout itself is covered against the fake in
tests/metering/providers/stripe/test_portal_payment.py.)"""

from __future__ import annotations

import uuid

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import follow, go_to, heading, sign_in
from tests.browser.seed import invoiced_customer
from tests.metering.billing.invoices.helpers import update_invoice, update_payment_link


def test_a_failed_payment_banner_leads_to_the_payment_method(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    customer = invoiced_customer(
        api, portal_app.engine, months, f"declined-{uuid.uuid4().hex[:8]}", "Initech", sent=0
    )
    (invoice,) = api.invoices(customer)
    update_invoice(portal_app.engine, invoice["id"], status="payment_failed")
    update_payment_link(portal_app.engine, invoice["id"], decline_code="card_declined")
    sign_in(page, portal_app, customer)

    for name in ("Overview", "Invoices"):
        if name != "Overview":
            go_to(page, name)
        banner = page.locator("#payment-failed")
        assert banner.is_visible()
        assert f"Payment failed for invoice #{invoice['number']}." in banner.inner_text()
        assert "The card was declined." in banner.inner_text()
    shot(page, "banner")

    follow(page, page.get_by_role("link", name="Update your payment method"))
    assert heading(page) == "Payment"
    assert page.get_by_role("heading", name="Payment method").is_visible()
    invoices_to_pay = page.get_by_role("table", name="Invoices to pay")
    assert "Payment failed" in invoices_to_pay.inner_text()
    shot(page, "payment")
