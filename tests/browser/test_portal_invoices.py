"""Invoices in Chromium: the list, an invoice's lines and tiers to the cent against the
vendor API, the outcomes behind a line, and the printable layout. Each page is saved as a
full-page PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import (
    contrast_ratio,
    follow,
    go_to,
    heading,
    money,
    shown_outcomes,
    sign_in,
)
from tests.browser.seed import invoiced_customer
from tests.metering.billing.invoices.helpers import update_payment_link
from tests.metering.surfaces.portal.helpers import pdf_text


def test_an_invoice_its_lines_and_the_outcomes_behind_a_line(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    customer = portal_app.seeded.acme
    (invoice,) = portal_app.api.invoices(customer)
    sign_in(page, portal_app, customer)
    go_to(page, "Invoices")
    assert heading(page) == "Invoices"
    listed = page.get_by_role("table", name="Invoices")
    (row,) = listed.locator("tbody tr").all()
    assert money(row.locator("td").last.inner_text()) == Decimal(invoice["total"])
    assert "Issued" in row.inner_text()
    shot(page, "list")

    follow(page, row.get_by_role("link", name="#1", exact=True))
    assert page.url == f"{portal_app.url}/portal/invoices/{invoice['id']}"
    assert heading(page).startswith("Invoice #1")
    assert money(page.locator("#invoice-total").inner_text()) == Decimal(invoice["total"])
    lines = page.get_by_role("table", name="Invoice lines")
    shown = [
        (
            line.locator("strong").first.inner_text(),
            money(line.locator(":scope > td").last.inner_text()),
        )
        for line in lines.locator(":scope > tbody > tr").all()
    ]
    assert shown == [(line["description"], Decimal(line["amount"])) for line in invoice["lines"]]
    assert money(lines.locator(":scope > tfoot td").inner_text()) == Decimal(invoice["total"])
    charged = invoice["lines"][0]
    tiers = page.get_by_role("table", name=f"Tiers of {charged['description']}")
    rows = tiers.locator("tbody tr").all()
    # The free units are a row of their own (at $0.00), then the tiers the API lists.
    assert rows[0].locator("td").first.inner_text() == "Free"
    assert [money(cells.locator("td").last.inner_text()) for cells in rows] == [
        Decimal(0),
        *(Decimal(tier["amount"]) for tier in charged["detail"]["tiers"]),
    ]
    units = sum(Decimal(cells.locator("td").nth(1).inner_text()) for cells in rows)
    assert units == Decimal(charged["quantity"])
    pdf = page.get_by_role("link", name="Download PDF")
    assert pdf.get_attribute("href") == f"/portal/invoices/{invoice['id']}/pdf"
    with page.expect_download() as started:
        pdf.click()
    printed = pdf_text(started.value.path().read_bytes())
    assert f"Total {lines.locator(':scope > tfoot td').inner_text()}" in printed
    shot(page, "invoice")

    assert page.get_by_role("button", name="Print").is_visible()  # shown by portal.js
    page.emulate_media(media="print")
    assert page.get_by_role("link", name="All invoices").is_hidden()
    brand = page.locator(".brand-name").evaluate("element => getComputedStyle(element).color")
    assert contrast_ratio(brand, "rgb(255, 255, 255)") >= 4.5  # paper prints no background
    assert lines.is_visible()
    shot(page, "print")
    page.emulate_media(media="screen")

    behind = portal_app.api.line_outcomes(invoice, charged)
    follow(page, page.get_by_role("link", name=f"{len(behind)} outcomes behind this line"))
    assert heading(page) == "Outcomes"
    behind_heading = page.get_by_role("heading", name=f"{len(behind)} outcomes behind the line")
    assert "of invoice #1" in behind_heading.inner_text()
    rows = shown_outcomes(page)
    assert sorted(row["Counted once per"] for row in rows) == sorted(
        outcome["dedupe_key"] for outcome in behind
    )
    assert {row["Status"] for row in rows} == {"Billed on invoice #1"}
    shot(page, "line-outcomes")


def test_an_invoice_in_stripe_links_to_its_hosted_page(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    """The Stripe sync stores the hosted invoice URL; here it is set as the sync would."""
    api, months = portal_app.api, portal_app.seeded.months
    customer = invoiced_customer(
        api, portal_app.engine, months, f"stripe-{uuid.uuid4().hex[:8]}", "Hooli", sent=0
    )
    (invoice,) = api.invoices(customer)
    hosted = "https://invoice.stripe.com/i/acct_test/in_test_hosted"
    update_payment_link(
        portal_app.engine,
        invoice["id"],
        provider="stripe",
        hosted_url=hosted,
        external_id="in_test_hosted",
    )
    sign_in(page, portal_app, customer)
    page.goto(f"/portal/invoices/{invoice['id']}")
    link = page.get_by_role("link", name="View and pay on Stripe")
    assert link.get_attribute("href") == hosted
    assert link.get_attribute("target") == "_blank"
    shot(page, "invoice")
