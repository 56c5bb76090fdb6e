"""The vendor console in Chromium: signing in with the API key, every page through the
navigation, and every action as a vendor does it (portal link, void and retry payment
after their confirmation page, accepting and rejecting disputes with a note, retrying a
webhook delivery). The shared seeded customers are only read; each action works on a
customer made for it. Pages are saved as PNGs in the artifacts folder (see conftest)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from metering.billing.invoices.models import Invoice
from metering.billing.payments.models import SyncState
from metering.ledger.disputes.models import Dispute
from metering.notify.alerts.evaluation import evaluate
from metering.platform.db.types import utcnow
from metering.platform.outbox.models import DeliveryStatus, WebhookDelivery
from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import follow, heading, money
from tests.browser.seed import invoiced_customer
from tests.browser.test_vendor_margin import LOGIN_HEADING, submit_key
from tests.metering.billing.invoices.helpers import update_invoice, update_payment_link
from tests.metering.ledger.disputes.helpers import file_dispute
from tests.metering.notify.alerts.helpers import add_alert
from tests.metering.notify.webhooks.helpers import add_endpoint

NAV = ("Customers", "Invoices", "Disputes", "Webhooks", "Alerts", "Margin")


@dataclass(frozen=True)
class Own:
    """A customer made for one test: its ids and its one invoice."""

    external_id: str
    customer_id: str
    invoice_id: str


@pytest.fixture
def own(portal_app: PortalApp) -> Own:
    external_id = f"console-{uuid.uuid4().hex[:8]}"
    customer_id = invoiced_customer(
        portal_app.api, portal_app.engine, portal_app.seeded.months, external_id, "Console Ltd"
    )
    with Session(portal_app.engine) as session:
        invoice_id = session.exec(
            select(Invoice.id).where(Invoice.customer_id == customer_id)
        ).one()
    return Own(external_id, customer_id, invoice_id)


def signed_in(page: Page, app: PortalApp, path: str) -> None:
    """Ask for a console page, sign in on the form it sends to, land on the page."""
    response = page.goto(path)
    assert response is not None and response.status == 200
    assert heading(page) == LOGIN_HEADING
    assert submit_key(page, app.api.keys.api_key) == 303
    assert page.url == f"{app.url}{path}"


def nav_to(page: Page, name: str) -> None:
    nav = page.get_by_role("navigation", name="Vendor console")
    follow(page, nav.get_by_role("link", name=name, exact=True))
    expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")


def test_every_console_page_opens_from_the_navigation(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    signed_in(page, portal_app, "/vendor/customers")
    for name in NAV:
        nav_to(page, name)
        assert page.get_by_role("heading", level=1).is_visible()
        shot(page, name.lower())


def test_every_console_page_opens_on_a_phone(
    phone_page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    """At 390x844 with touch: each page loads without a script error or an outside request
    (the phone layout itself is the stylesheet's, checked by the layout tests)."""
    signed_in(phone_page, portal_app, "/vendor/customers")
    for path in ("customers", "invoices", "disputes", "webhooks", "alerts"):
        response = phone_page.goto(f"/vendor/{path}")
        assert response is not None and response.status == 200
        assert phone_page.get_by_role("heading", level=1).is_visible()
        shot(phone_page, f"phone-{path}")
    phone_page.goto(f"/vendor/customers/{portal_app.seeded.acme}")
    assert heading(phone_page) == "Acme Corp"
    shot(phone_page, "phone-customer")


def test_the_customers_list_shows_the_apis_upcoming_total(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    signed_in(page, portal_app, "/vendor/customers")
    page.get_by_label("Search").fill("acme")
    follow(page, page.get_by_role("button", name="Show"))
    table = page.get_by_role("table", name="Customers")
    acme = table.locator("tr", has=page.get_by_role("link", name="Acme Corp"))
    expected = portal_app.api.upcoming(portal_app.seeded.acme)["total"]
    assert money(acme.locator('td[data-label="Upcoming total"]').inner_text()) == money(expected)
    expect(acme.locator('td[data-label="Plan"]')).to_have_text("portal-agent v1")
    expect(acme.locator('td[data-label="Payment status"]')).to_have_text("1 open invoice")
    shot(page, "search")
    follow(page, page.get_by_role("link", name="Acme Corp"))
    assert heading(page) == "Acme Corp"
    assert money(page.locator("#upcoming-total").inner_text().split(" for ")[0]) == money(expected)
    shot(page, "customer")


def test_the_portal_link_button_opens_the_customers_portal(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot
) -> None:
    signed_in(page, portal_app, f"/vendor/customers/{own.customer_id}")
    follow(page, page.get_by_role("button", name="Create a portal link"))
    link = page.get_by_label("Portal link").input_value()
    assert link.startswith(f"{portal_app.url}/portal/session/")
    shot(page, "portal-link")
    response = page.goto(link)
    assert response is not None and response.status == 200
    assert page.url == f"{portal_app.url}/portal"


def test_void_an_invoice_after_confirming(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot
) -> None:
    signed_in(page, portal_app, "/vendor/invoices?status=issued")
    invoice_row = page.locator(f"#row-{own.invoice_id}")
    follow(page, invoice_row.get_by_role("link", name="Void"))
    assert heading(page).startswith("Void invoice #")
    shot(page, "confirm-void")
    follow(page, page.get_by_role("button", name="Void"))
    expect(page.get_by_role("status")).to_contain_text("was voided")
    assert portal_app.api.get(f"/v1/invoices/{own.invoice_id}")["status"] == "void"
    shot(page, "voided")


def test_an_invoice_page_from_the_list_with_its_pdf(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot
) -> None:
    signed_in(page, portal_app, "/vendor/invoices?status=issued")
    follow(page, page.locator(f"#row-{own.invoice_id}").get_by_role("link").first)
    shown = portal_app.api.get(f"/v1/invoices/{own.invoice_id}")
    assert heading(page).startswith(f"Invoice #{shown['number']}")
    assert money(page.locator("#amount-due").inner_text()) == money(shown["amount_due"])
    shot(page, "invoice")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"invoice-{shown['number']}.pdf"
    follow(page, page.get_by_role("link", name="Void"))
    assert heading(page).startswith("Void invoice #")
    follow(page, page.get_by_role("link", name="Cancel"))
    assert heading(page).startswith(f"Invoice #{shown['number']}")
    follow(page, page.get_by_role("link", name="Console Ltd"))
    assert heading(page) == "Console Ltd"
    assert portal_app.api.get(f"/v1/invoices/{own.invoice_id}")["status"] == "issued"


def test_retry_a_failed_payment_after_confirming(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot
) -> None:
    update_invoice(portal_app.engine, own.invoice_id, status="payment_failed")
    update_payment_link(
        portal_app.engine,
        own.invoice_id,
        step=SyncState.FAILED.value,
        error="Your card was declined.",
        decline_code="card_declined",
        first_failed_at=utcnow(),
    )
    signed_in(page, portal_app, "/vendor/invoices")
    first = page.get_by_role("table", name="Invoices").locator("tbody tr").first
    expect(first.locator('td[data-label="Status"]')).to_contain_text("Payment failed")
    invoice_row = page.locator(f"#row-{own.invoice_id}")
    follow(page, invoice_row.get_by_role("link", name="Retry payment"))
    shot(page, "confirm-retry")
    follow(page, page.get_by_role("button", name="Retry payment"))
    expect(page.get_by_role("status")).to_contain_text("will be charged again")
    shown = portal_app.api.get(f"/v1/invoices/{own.invoice_id}")
    assert shown["sync_error"] is None
    shot(page, "retried")


def _dispute(app: PortalApp, own: Own) -> str:
    return file_dispute(app.engine, own.customer_id, f"{own.external_id}-a1", utcnow(), "Reopened")


@pytest.mark.parametrize("answer", ["Accept (credit)", "Reject"])
def test_answer_a_dispute_in_the_page(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot, answer: str
) -> None:
    dispute_id = _dispute(portal_app, own)
    signed_in(page, portal_app, "/vendor/disputes")
    card = page.locator(f"#dispute-{dispute_id}")
    if answer == "Reject":  # a rejection without a note is refused in the page
        follow(page, card.get_by_role("button", name="Reject"))
        card = page.locator(f"#dispute-{dispute_id}")
        expect(card.get_by_role("alert")).to_contain_text("Write a note to reject")
        shot(page, "note-required")
    card.get_by_label("Note to the customer").fill("Checked with the transcript.")
    follow(page, card.get_by_role("button", name=answer))
    expect(page.get_by_role("status")).to_contain_text("The dispute was")
    with Session(portal_app.engine) as session:
        stored = session.get(Dispute, dispute_id)
        assert stored is not None
        assert stored.status == ("accepted" if answer.startswith("Accept") else "rejected")
        assert stored.resolution_note == "Checked with the transcript."
    shot(page, "answered")


def test_retry_a_failed_webhook_delivery(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot
) -> None:
    add_endpoint(
        portal_app.engine, portal_app.api.keys.id, "http://127.0.0.1:9/h", ["outcome.disputed"]
    )
    _dispute(portal_app, own)
    with Session(portal_app.engine) as session:
        delivery = session.exec(
            select(WebhookDelivery).order_by(col(WebhookDelivery.id).desc())
        ).first()
        assert delivery is not None
        delivery.status = DeliveryStatus.FAILED.value
        delivery.last_error = "connection refused"
        session.add(delivery)
        session.commit()
        delivery_id = delivery.id
    signed_in(page, portal_app, "/vendor/webhooks?status=failed")
    delivery_row = page.locator(f"#row-{delivery_id}")
    expect(delivery_row).to_contain_text("connection refused")
    shot(page, "failed-delivery")
    follow(page, delivery_row.get_by_role("button", name="Retry"))
    expect(page.get_by_role("status")).to_contain_text("is due again now")
    shot(page, "retried")


def test_the_alerts_page_lists_rules_and_firings(
    page: Page, portal_app: PortalApp, own: Own, shot: Shot
) -> None:
    name = f"Spend of {own.external_id}"
    add_alert(
        portal_app.engine,
        portal_app.api.keys.id,
        kind="spend",
        threshold="0.01",
        customer=own.customer_id,
        name=name,
    )
    evaluate(portal_app.engine, now=utcnow(), vendor_id=portal_app.api.keys.id)
    signed_in(page, portal_app, "/vendor/alerts")
    expect(page.get_by_role("table", name="Rules")).to_contain_text(name)
    firings = page.get_by_role("table", name="Recent firings")
    expect(firings.locator("tr", has_text=own.external_id).first).to_contain_text(name)
    shot(page, "alerts")
