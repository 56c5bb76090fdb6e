"""The overview in Chromium shows the same money as the vendor API's upcoming invoice, to the
cent: every amount is read from the page as the customer sees it and parsed back. Each page
is saved as a full-page PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import counted_outcomes, heading, money, sign_in, table_rows
from tests.browser.seed import pending_now, this_month_events


def en_us_time(iso: str) -> str:
    """`2026-12-01T20:52:25Z` as an en_US reader sees it: `Dec 1, 2026, 8:52 PM UTC`."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    hour = at.hour % 12 or 12
    return f"{at:%b} {at.day}, {at.year}, {hour}:{at:%M} {'AM' if at.hour < 12 else 'PM'} UTC"


def api_lines(upcoming: dict[str, Any]) -> list[tuple[str, Decimal]]:
    lines = upcoming["lines"] + upcoming["corrections"]
    return [(line["description"], Decimal(line["amount"])) for line in lines]


def test_the_overview_shows_the_upcoming_invoice_to_the_cent(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    customer = portal_app.seeded.acme
    sign_in(page, portal_app, customer)
    upcoming = portal_app.api.upcoming(customer)
    assert heading(page) == "Overview"
    shot(page, "overview")

    total = Decimal(upcoming["total"])
    assert money(page.locator("#projected-total").inner_text()) == total
    projected = page.get_by_role("table", name="Projected invoice")
    shown = [(label, money(amount)) for label, amount in table_rows(projected)]
    assert shown == api_lines(upcoming)
    assert money(projected.locator("tfoot td").last.inner_text()) == total

    (invoice,) = portal_app.api.invoices(customer)
    previous = page.locator(".card", has=page.get_by_role("heading", name="Previous period"))
    assert money(previous.locator(".figure").inner_text()) == Decimal(invoice["total"])
    assert previous.get_by_role("link", name="invoice #1").get_attribute("href") == (
        f"/portal/invoices/{invoice['id']}"
    )
    by_outcome = page.get_by_role("table", name="This period by outcome")
    charged = upcoming["lines"][0]
    assert charged["outcome"] == "resolved_conversation"
    assert money(table_rows(by_outcome)[0][1]) == Decimal(charged["amount"])

    # c-14 and c-15 resolved minutes ago; the early ones too in a month's first three days
    waiting = 2 + sum(pending_now(portal_app.seeded.months, hours) for hours in (1, 2, 6, 7, 8))
    pending = {row["outcome"]: row["count"] for row in upcoming["pending"]}
    assert pending == {"resolved_conversation": waiting}
    pending_table = page.get_by_role("table", name="Pending settlement")
    assert table_rows(pending_table)[0][0] == "Resolved conversations"  # the charge's name
    (row,) = pending_table.locator("tbody tr").all()
    count, adds, settles = row.locator("td").all_inner_texts()
    assert count == str(waiting)
    assert " ".join(settles.split()) == en_us_time(upcoming["pending"][0]["next_settles_at"])
    # What the pending ones are worth on their line once settled, and the invoice if every
    # one of them settles: more by their worth less what the period minimum then no longer
    # has to make up.
    if_settled = money(page.locator("#projected-if-settled").inner_text())
    assert money(adds) > 0 and total < if_settled <= total + money(adds)
    card = page.locator(".card", has=page.get_by_role("heading", name="If every pending"))
    assert f"${if_settled - total} more for {waiting} pending outcomes" in card.inner_text()
    assert money(page.locator("#amount-due").inner_text()) == if_settled
    closes = datetime.fromisoformat(upcoming["closes_at"].replace("Z", "+00:00"))
    invoiced_on = page.locator("#invoiced-on").inner_text()
    assert f"invoiced on {closes:%b} {closes.day}, {closes.year}" in invoiced_on
    outcomes_card = page.locator(
        ".card", has=page.get_by_role("heading", name="Outcomes this period")
    )
    assert outcomes_card.locator(".figure").inner_text() == str(counted_outcomes(upcoming))


def test_the_overview_is_the_signed_in_customers_own(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    """globex was sent fewer events this month than acme: its page shows its own numbers."""
    globex = portal_app.seeded.globex
    sign_in(page, portal_app, globex)
    upcoming = portal_app.api.upcoming(globex)
    early = [pending_now(portal_app.seeded.months, hours) for hours in (1, 2)]
    assert sum(pending["count"] for pending in upcoming["pending"]) == sum(early)
    assert "Globex Inc" in page.locator("header").inner_text()
    assert money(page.locator("#projected-total").inner_text()) == Decimal(upcoming["total"])
    projected = page.get_by_role("table", name="Projected invoice")
    assert [(label, money(amount)) for label, amount in table_rows(projected)] == api_lines(
        upcoming
    )
    if not any(early):
        assert page.get_by_text("No outcome is waiting to settle.").is_visible()
    shot(page, "overview")


def test_a_german_customer_reads_german_amounts_equal_to_the_api(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    """de_DE: `10,49 $` and `1.234,50`; parsed back in that locale, still the API's cents."""
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"de-{uuid.uuid4().hex[:8]}"
    customer = api.new_customer(external_id, "Beispiel GmbH", months.this.start, locale="de_DE")
    api.send(this_month_events(external_id, months))
    sign_in(page, portal_app, customer)
    upcoming = api.upcoming(customer)
    assert page.evaluate("document.documentElement.lang") == "de-DE"
    total = page.locator("#projected-total").inner_text()
    assert "," in total
    assert money(total, "de_DE") == Decimal(upcoming["total"])
    projected = page.get_by_role("table", name="Projected invoice")
    assert [
        (label, money(amount, "de_DE")) for label, amount in table_rows(projected)
    ] == api_lines(upcoming)
    shot(page, "overview")
