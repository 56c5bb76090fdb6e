"""The Spend limit page in Chromium, once the vendor lets customers set their own: from the
overview's card the customer sets a limit (a refusal names the field), changes it, then
removes it; the page passes axe-core and fits a desktop and a phone screen."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import check_page, follow, heading, money, sign_in


@pytest.fixture
def allowing(portal_app: PortalApp) -> Iterator[PortalApp]:
    """The vendor lets its customers set their own spend limit for one test."""
    portal_app.api.call("PATCH", "/v1/vendor/portal", json={"customer_spend_limits": True})
    try:
        yield portal_app
    finally:
        portal_app.api.call("PATCH", "/v1/vendor/portal", json={"customer_spend_limits": False})


def _customer(app: PortalApp) -> str:
    external_id = f"limit-{uuid.uuid4().hex[:8]}"
    return app.api.new_customer(external_id, "Globex", app.seeded.months.this.start)


def test_the_customer_sets_changes_and_removes_its_spend_limit(
    page: Page, allowing: PortalApp, shot: Shot
) -> None:
    customer_id = _customer(allowing)
    sign_in(page, allowing, customer_id)
    assert page.locator("#spend-limit-amount").inner_text() == "None set"
    follow(page, page.get_by_role("link", name="Set or change your spend limit"))
    assert heading(page) == "Spend limit"
    assert page.locator("#limit-now").inner_text() == "No spend limit of your own is set."
    check_page(page, "spend-limit")

    page.get_by_label("Amount (USD)").fill("0")
    follow(page, page.get_by_role("button", name="Save limit"))
    assert page.get_by_role("alert").inner_text() == (
        "Amount: a spend limit must be above zero, got 0"
    )
    assert page.get_by_label("Amount (USD)").get_attribute("aria-invalid") == "true"
    check_page(page, "spend-limit-refused")

    page.get_by_label("Amount (USD)").fill("250.00")
    page.get_by_label("When it is reached").select_option("stop_billing")
    follow(page, page.get_by_role("button", name="Save limit"))
    assert page.get_by_role("status").inner_text().startswith("Your spend limit is saved.")
    assert money(page.locator("#limit-now strong").inner_text()) == Decimal("250.00")
    assert "nothing past it is billed" in page.locator("#limit-now").inner_text()
    assert (
        allowing.api.get(f"/v1/customers/{customer_id}/allowance?outcome=resolved_conversation")[
            "limit"
        ]["amount"]
        == "250.00"
    )
    shot(page, "spend-limit-set")

    page.get_by_label("Amount (USD)").fill("99.5")
    follow(page, page.get_by_role("button", name="Save limit"))
    assert money(page.locator("#limit-now strong").inner_text()) == Decimal("99.50")

    follow(page, page.get_by_role("button", name="Remove limit"))
    assert page.get_by_role("status").inner_text() == "Your spend limit is removed."
    assert page.locator("#limit-now").inner_text() == "No spend limit of your own is set."


def test_the_spend_limit_page_on_a_phone(phone_page: Page, allowing: PortalApp) -> None:
    sign_in(phone_page, allowing, _customer(allowing))
    phone_page.goto("/portal/spend_limit")
    assert heading(phone_page) == "Spend limit"
    check_page(phone_page, "spend-limit-phone")
