"""The vendor's margin page in Chromium: signing in at /vendor/login with the API key through
the form, the invoiced month's revenue equal to `GET /v1/reports/margin` to the cent, a chart
a screen reader can describe, a wrong key refused in the page, and logging out. Every page
is saved as a PNG in the artifacts folder (see conftest)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import follow, heading, money

LOGIN_HEADING = "Sign in to your reports"
WRONG_KEY_ERROR = "This API key is not valid (unknown or revoked)."
CENT = Decimal("0.01")


def invoiced_month(app: PortalApp) -> str:
    """The seeded month closed into invoices, as `YYYY-MM`."""
    label: str = app.seeded.months.last.label
    return label


def margin_path(app: PortalApp) -> str:
    return f"/vendor/margin?period={invoiced_month(app)}"


def api_report(app: PortalApp) -> dict[str, Any]:
    report: dict[str, Any] = app.api.get(f"/v1/reports/margin?period={invoiced_month(app)}")
    return report


def to_the_cent(amount: str) -> Decimal:
    """An exact API amount as the page shows it: rounded half-up to the cent."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def submit_key(page: Page, api_key: str) -> int:
    """Type the key into the login form, send it; the status the form's POST answered."""
    page.get_by_label("API key", exact=True).fill(api_key)
    with page.expect_response(
        lambda answer: answer.request.method == "POST" and answer.url.endswith("/vendor/login")
    ) as answered:
        follow(page, page.get_by_role("button", name="Sign in"))
    status: int = answered.value.status
    return status


def open_margin_signed_in(page: Page, app: PortalApp) -> None:
    """Ask for the margin page, get the login form instead, sign in with the vendor's key,
    and land on the page asked for."""
    response = page.goto(margin_path(app))
    assert response is not None
    assert response.status == 200
    assert page.url.startswith(f"{app.url}/vendor/login?next=")
    assert heading(page) == LOGIN_HEADING
    assert submit_key(page, app.api.keys.api_key) == 303
    assert page.url == f"{app.url}{margin_path(app)}"
    assert heading(page) == f"Margin per outcome, {invoiced_month(app)}"


def chromium_text_alternative(page: Page, title: str) -> tuple[str, str]:
    """The accessible name and description Chromium gives the chart image titled `title`:
    what a screen reader is told (Playwright's own computation ignores SVG `<desc>`)."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    found = [
        (node["name"]["value"], node.get("description", {}).get("value", ""))
        for node in nodes
        if node.get("role", {}).get("value") == "image"
        and str(node.get("name", {}).get("value", "")).startswith(title)
    ]
    assert len(found) == 1, f"{len(found)} images named {title!r}"
    return found[0]


def customer_totals(page: Page) -> dict[str, Decimal]:
    """Each customer's total revenue, as the per-customer table shows it."""
    table = page.get_by_role("table", name="Per customer and outcome type")
    shown = {}
    for group in table.locator("tbody").all():
        customer = group.locator("th").first.inner_text().strip().splitlines()[0]
        revenue = group.locator("tr.customer-total td").nth(2).inner_text()
        shown[customer] = money(revenue)
    return shown


def test_the_vendor_signs_in_and_reads_the_invoiced_revenue_to_the_cent(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    open_margin_signed_in(page, portal_app)
    shot(page, "margin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "vendor_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    assert portal_app.api.keys.api_key not in cookie["value"]

    report, seeded = api_report(portal_app), portal_app.seeded
    (totals,) = report["totals"]
    assert totals["currency"] == "usd"
    revenue = page.locator(".card", has=page.get_by_role("heading", name="Revenue (USD)"))
    assert money(revenue.locator(".figure").inner_text()) == to_the_cent(totals["revenue"])
    assert money(page.locator("#margin-usd").inner_text()) == to_the_cent(totals["margin"])
    shown = customer_totals(page)
    assert shown == {row["customer"]: to_the_cent(row["revenue"]) for row in report["customers"]}
    # other tests may add customers to the month; the seeded two show what they were invoiced
    for external_id, customer_id in (("acme", seeded.acme), ("globex", seeded.globex)):
        (invoice,) = portal_app.api.invoices(customer_id)
        assert shown[external_id] == Decimal(invoice["total"]) == Decimal("10.00")
        (row,) = (row for row in report["customers"] if row["customer"] == external_id)
        assert row["revenue_source"] == "invoice"


def test_the_revenue_chart_has_an_accessible_description(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    """The chart is an image named by its title whose text alternative states the total it
    draws: revenue per outcome type, i.e. all revenue but fees and the minimum true-up."""
    open_margin_signed_in(page, portal_app)
    (totals,) = api_report(portal_app)["totals"]
    per_outcome = sum((Decimal(row["revenue"]) for row in totals["outcomes"]), Decimal(0))
    assert per_outcome > 0

    chart = page.get_by_role("img", name="Revenue per outcome type (USD)")
    expect(chart).to_be_visible()
    description = chart.locator("desc").text_content() or ""
    summary = re.fullmatch(r"\d+ bars?, total (\S+), highest \S+", description)
    assert summary is not None, description
    assert money(summary[1]) == to_the_cent(str(per_outcome))
    name, described = chromium_text_alternative(page, "Revenue per outcome type (USD)")
    assert name.startswith("Revenue per outcome type (USD)")
    assert described == description
    caption = page.locator("figure.chart", has=chart).locator("figcaption")
    assert caption.inner_text() == f"Revenue per outcome type (USD): {description}"
    shot(page, "chart")


def test_a_wrong_api_key_is_refused_with_a_visible_error(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    response = page.goto("/vendor/login")
    assert response is not None
    assert response.status == 200
    real = portal_app.api.keys.api_key
    wrong = real[:-4] + ("aaaa" if not real.endswith("aaaa") else "bbbb")
    assert submit_key(page, wrong) == 401
    assert page.url == f"{portal_app.url}/vendor/login"
    error = page.get_by_role("alert")
    expect(error).to_be_visible()
    expect(error).to_have_text(WRONG_KEY_ERROR)
    expect(page.get_by_label("API key", exact=True)).to_have_accessible_description(WRONG_KEY_ERROR)
    assert "vendor_session" not in [c["name"] for c in page.context.cookies()]
    shot(page, "wrong-key")

    response = page.goto(margin_path(portal_app))
    assert response is not None
    assert heading(page) == LOGIN_HEADING
    assert "Revenue" not in page.inner_text("main")


def test_logging_out_returns_to_the_login_page(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    open_margin_signed_in(page, portal_app)
    follow(page, page.get_by_role("button", name="Log out"))
    assert page.url == f"{portal_app.url}/vendor/login"
    assert heading(page) == LOGIN_HEADING
    assert "vendor_session" not in [c["name"] for c in page.context.cookies()]
    shot(page, "logged-out")

    response = page.goto(margin_path(portal_app))
    assert response is not None
    assert page.url.startswith(f"{portal_app.url}/vendor/login?next=")
    assert heading(page) == LOGIN_HEADING
