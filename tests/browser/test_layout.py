"""Every portal and vendor console page at a desktop (1280 x 800) and a phone (390 x 844)
size, in Chromium: axe-core finds no serious or critical violation at either size, and on the
phone the page never scrolls sideways, every amount of every table is on screen and chart labels
are at least 11 px and not cut off (`check_page` in pages.py, which new pages call too).

The customer toured has an invoice, pending and reversed outcomes, an answered dispute and an
open one, so every table has rows. Each page is saved as a PNG in the artifacts folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from tests.browser.conftest import PHONE, PortalApp, Shot, watched
from tests.browser.pages import (
    check_page,
    follow,
    go_to,
    heading,
    sign_in,
    sign_in_vendor,
)
from tests.browser.seed import invoiced_customer

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
REASON = "It was a greeting, not a resolved conversation."


def file_dispute(page: Page, key: str) -> None:
    page.goto(f"/portal/outcomes?q={key}")
    follow(page, page.get_by_role("table", name="Outcomes").get_by_role("link", name="Details"))
    page.get_by_label("Reason").fill(REASON)
    follow(page, page.get_by_role("button", name="Send dispute"))
    assert heading(page) == "Disputes"


@dataclass(frozen=True)
class Toured:
    """The customers the tour signs in as."""

    customer: str
    planless: str


@pytest.fixture(scope="module")
def toured(browser: Browser, portal_app: PortalApp) -> Toured:
    """A customer of its own (invoiced, this month's events sent) with one dispute answered
    by the vendor and one still open, and a customer without a plan."""
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"layout-{uuid.uuid4().hex[:8]}"
    customer = invoiced_customer(api, portal_app.engine, months, external_id, "Layout Ltd")
    with watched(browser.new_context(base_url=portal_app.url), portal_app) as page:
        sign_in(page, portal_app, customer)
        file_dispute(page, "c-4")
        file_dispute(page, "c-16")
    (answered,) = [
        d for d in api.disputes("open") if d["customer_id"] == customer and d["dedupe_key"] == "c-4"
    ]
    api.call("POST", f"/v1/disputes/{answered['id']}/reject", json={"note": "It was billable."})
    planless = api.call(
        "POST", "/v1/customers", 201, json={"external_id": f"{external_id}-none", "name": "None"}
    )
    return Toured(customer, planless["id"])


@pytest.fixture(params=list(SIZES))
def sized_page(
    request: pytest.FixtureRequest, browser: Browser, portal_app: PortalApp
) -> Iterator[Page]:
    """A fresh browser context at a desktop or a phone size (touch on the phone)."""
    phone = request.param == "phone"
    context = browser.new_context(
        base_url=portal_app.url,
        viewport=SIZES[request.param],
        is_mobile=phone,
        has_touch=phone,
    )
    with watched(context, portal_app) as opened:
        yield opened


def tour(page: Page, app: PortalApp, toured: Toured) -> Iterator[str]:
    """Open every page in turn, yielding its name once it has loaded."""
    page.goto("/portal")
    yield "signed-out"
    sign_in(page, app, toured.customer)
    yield "overview"
    for name in ("Outcomes", "Invoices", "Payment", "Disputes"):
        go_to(page, name)
        yield name.lower()
    page.goto("/portal/invoices")
    follow(page, page.locator("table").get_by_role("link").first)
    yield "invoice"
    page.goto("/portal/outcomes?q=c-4")
    follow(page, page.get_by_role("table", name="Outcomes").get_by_role("link", name="Details"))
    yield "outcome"
    sign_in(page, app, toured.planless)
    yield "overview-without-plan"
    page.goto("/vendor/login")
    yield "vendor-login"
    sign_in_vendor(page, app, f"/vendor/margin?period={app.seeded.months.last.label}")
    yield "vendor-margin"
    page.goto("/vendor/margin")
    yield "vendor-margin-open-month"
    for path in ("customers", "invoices", "disputes", "webhooks", "alerts"):
        page.goto(f"/vendor/{path}")
        yield f"vendor-{path}"
    page.goto(f"/vendor/customers/{toured.customer}")
    yield "vendor-customer"
    follow(page, page.get_by_role("table", name="Invoices").get_by_role("link").first)
    yield "vendor-invoice"


def test_every_page_passes_axe_and_fits_the_screen(
    sized_page: Page, portal_app: PortalApp, toured: Toured, shot: Shot
) -> None:
    seen = []
    for name in tour(sized_page, portal_app, toured):
        shot(sized_page, name)
        check_page(sized_page, name)
        seen.append(name)
    assert len(seen) == 19
