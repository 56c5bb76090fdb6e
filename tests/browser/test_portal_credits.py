"""The Credits page in Chromium: the customer reads its balance, grants and history, sees
when its credits run out, buys the amount it picks within the vendor's offer (the purchase invoice
opens) and finds the
bought grant awaiting payment; the overview shows the balance and what credits pay. The
page passes the same accessibility checks as the others. Each test makes its own customer.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import Page

from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import follow, go_to, heading, money, sign_in
from tests.browser.seed import iso, resolved
from tests.browser.test_portal_accessibility import check


def test_credits_page_balance_history_and_buying_credits(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    api, months = portal_app.api, portal_app.seeded.months
    external_id = f"credits-{uuid.uuid4().hex[:8]}"
    customer_id = api.new_customer(external_id, "Initech", months.this.start)
    api.call(
        "POST",
        f"/v1/customers/{customer_id}/credit_grants",
        201,
        headers={"Idempotency-Key": uuid.uuid4().hex},
        json={
            "amount": "200.00",
            "category": "promotional",
            "name": "Launch credits",
            "effective_at": iso(months.this.start),
            "expires_at": iso(months.this.start + timedelta(days=400)),
        },
    )
    api.call(
        "PUT",
        "/v1/vendor/portal_credit_purchases",
        json={"enabled": True, "amounts": {"usd": {"minimum": "10.00", "maximum": "500.00"}}},
    )
    api.send(
        [
            resolved(
                external_id,
                f"cr-{n}",
                months.this.start + timedelta(hours=1 + n),
                f"cr-c{n}",
                "chat",
                "sales",
            )
            for n in range(3)
        ]
    )
    balance = api.get(f"/v1/customers/{customer_id}/credit_balance")["balances"][0]
    sign_in(page, portal_app, customer_id)

    card = page.locator("#credit-balance")
    assert money(card.inner_text()) == 200
    assert money(page.locator("#credits-cover").inner_text()) == money(balance["projected_draw"])
    go_to(page, "Credits")
    assert heading(page) == "Credits"
    assert money(page.locator("#credit-balance-usd").inner_text()) == 200
    grants = page.get_by_role("table", name="Grants")
    assert grants.locator("tbody tr").count() == 1
    assert "Launch credits" in grants.inner_text() and "Promotional" in grants.inner_text()
    history = page.get_by_role("table", name="History")
    assert "Granted" in history.inner_text()
    check(page, shot, "credits")

    page.get_by_label("Amount (USD)").fill("75.00")
    follow(page, page.get_by_role("button", name="Buy credits"))

    assert heading(page).startswith("Invoice")
    assert "Prepaid credits: 75.00 USD" in page.inner_text("main")
    go_to(page, "Credits")
    rows = page.get_by_role("table", name="Grants").locator("tbody tr")
    assert rows.count() == 2
    assert "Awaiting payment" in rows.first.inner_text()
    shot(page, "credits-bought")
