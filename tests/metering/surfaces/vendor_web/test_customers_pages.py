"""The customers list and a customer's page: the upcoming total is the API's upcoming invoice
to the cent, payment status from the invoices, search, plan filter, 50 a page, and the
portal link button making a link that opens the portal once."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.db.types import utcnow
from tests.metering.billing.credits.helpers import grant
from tests.metering.conftest import create_customer, create_plan
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.vendor_web.scenario import Books, csrf


def row_of(page: str, customer_id: str) -> str:
    """The table row linking to the customer."""
    (row,) = [part for part in page.split("<tr")[1:] if f"/vendor/customers/{customer_id}" in part]
    return row


def cell(row: str, label: str) -> str:
    found = re.search(rf'data-label="{label}">(.*?)</t[dh]>', row, re.S)
    assert found is not None, (label, row)
    return re.sub(r"<[^>]+>", "", found[1]).strip()


def api_upcoming(client: TestClient, signed_in: Books, customer_id: str) -> Decimal:
    answer = client.get(
        f"/v1/customers/{customer_id}/upcoming_invoice", headers=bearer(signed_in.vendor.api_key)
    )
    assert answer.status_code == 200
    return Decimal(answer.json()["total"])


def test_the_list_shows_plan_upcoming_total_and_payment_status(
    app_client: TestClient, signed_in: Books
) -> None:
    page = app_client.get("/vendor/customers").text
    acme = row_of(page, signed_in.customers["acme"])
    assert cell(acme, "Plan") == "support-agent v1"
    # the current period: the fee and 1.5% of a 1,000.00 deal, above the 25.00 minimum
    assert api_upcoming(app_client, signed_in, signed_in.customers["acme"]) == Decimal("35.00")
    assert cell(acme, "Upcoming total") == "$35.00"
    assert cell(acme, "Payment status") == "1 failed payment"
    globex = row_of(page, signed_in.customers["globex"])
    assert api_upcoming(app_client, signed_in, signed_in.customers["globex"]) == Decimal("25.00")
    assert cell(globex, "Upcoming total") == "$25.00"  # the minimum
    assert cell(globex, "Payment status") == "1 open invoice"
    assert cell(row_of(page, signed_in.customers["initech"]), "Payment status") == "Paid up"


def test_search_and_plan_filter(engine: Engine, app_client: TestClient, signed_in: Books) -> None:
    other_plan = create_plan(
        engine,
        signed_in.vendor.id,
        "plan: other\nversion: 1\ncurrency: eur\n"
        "billing: {interval: month}\noutcomes: {}\ncharges:\n"
        '  - {name: Fee, model: flat, price: "9.50"}\n',
    )
    umbrella = create_customer(engine, signed_in.vendor.id, "umbrella", other_plan)
    found = app_client.get("/vendor/customers", params={"q": "GLOB"}).text
    assert signed_in.customers["globex"] in found
    assert signed_in.customers["acme"] not in found and umbrella not in found
    on_other = app_client.get("/vendor/customers", params={"plan": "other"}).text
    assert cell(row_of(on_other, umbrella), "Upcoming total") == "€9.50"
    assert signed_in.customers["acme"] not in on_other
    for nothing in ("nobody", "%", "_lobex"):  # wildcards are plain characters
        none = app_client.get("/vendor/customers", params={"q": nothing}).text
        assert "No customer matches these filters." in none, nothing


def link(page: str, rel: str) -> str:
    found = re.search(rf'href="(/vendor/customers\?[^"]+)" rel="{rel}"', page)
    assert found is not None, rel
    return found[1].replace("&amp;", "&")


def test_customers_come_fifty_a_page_both_ways(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    for n in range(100):
        create_customer(engine, signed_in.vendor.id, f"extra-{n:03}")
    first = app_client.get("/vendor/customers?q=extra").text
    assert first.count('data-label="Payment status"') == 50
    assert 'rel="prev"' not in first and "First page" not in first
    second = app_client.get(link(first, "next")).text
    assert second.count('data-label="Payment status"') == 50
    assert "extra-050" in second and "extra-049" not in second and "extra-099" in second
    assert 'rel="next"' not in second and "First page" in second
    back = app_client.get(link(second, "prev")).text
    assert back.count('data-label="Payment status"') == 50
    assert "extra-000" in back and "extra-049" in back and "extra-050" not in back
    assert 'rel="prev"' not in back and link(back, "next") == link(first, "next")
    assert app_client.get("/vendor/customers", params={"cursor": "nonsense"}).status_code == 400
    assert app_client.get("/vendor/customers", params={"before": "nonsense"}).status_code == 400


def test_a_customers_page(app_client: TestClient, signed_in: Books) -> None:
    page = app_client.get(f"/vendor/customers/{signed_in.customers['acme']}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>acme</h1>" in text
    assert re.search(r'id="upcoming-total">\$35\.00', text)
    assert "support-agent v1" in text and "in force" in text
    assert "Payment failed" in text
    assert "Reopened" in text  # the open dispute's reason
    assert "Any spend" in text  # the plan's alert rule
    assert "Create a portal link" in text


def test_the_portal_link_button_makes_a_link_that_opens_once(
    app_client: TestClient, signed_in: Books
) -> None:
    made = app_client.post(
        f"/vendor/customers/{signed_in.customers['globex']}/portal_link",
        data={"csrf_token": csrf(app_client)},
    )
    assert made.status_code == 200
    match = re.search(r'value="(http://testserver/portal/session/[^"]+)"', made.text)
    assert match is not None
    path = match[1].removeprefix("http://testserver")
    app_client.cookies.clear()
    opened = app_client.get(path, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/portal"
    assert app_client.get(path, follow_redirects=False).status_code in (403, 410)


def test_the_list_shows_each_customers_usable_credit_balance(
    engine: Engine, app_client: TestClient, signed_in: Books
) -> None:
    now = utcnow()
    acme, globex = signed_in.customers["acme"], signed_in.customers["globex"]
    grant(engine, acme, "40.00", now, name="Welcome")
    grant(engine, acme, "2.50", now, name="Goodwill")
    grant(engine, globex, "9.99", now, effective_at=now + timedelta(days=3))  # not yet usable
    grant(engine, globex, "5.00", now, effective_at=now - timedelta(days=2), expires_at=now)
    page = app_client.get("/vendor/customers").text
    assert cell(row_of(page, acme), "Credits") == "$42.50"
    assert cell(row_of(page, globex), "Credits") == "none"
    assert cell(row_of(page, signed_in.customers["initech"]), "Credits") == "none"


def test_a_customers_page_shows_its_limits(app_client: TestClient, signed_in: Books) -> None:
    acme = signed_in.customers["acme"]
    assert (
        "No spend or unit limit applies to this customer."
        in app_client.get(f"/vendor/customers/{acme}").text
    )
    put = app_client.put(
        f"/v1/customers/{acme}/spend_limit",
        json={"amount": "150.00", "on_reach": "notify"},
        headers=bearer(signed_in.vendor.api_key),
    )
    assert put.status_code == 200, put.text
    page = app_client.get(f"/vendor/customers/{acme}").text
    limits = page[page.index('id="limits-title"') : page.index('id="alerts-title"')]
    assert cell(limits, "Limit") == "Spend limit (this customer)"
    assert cell(limits, "Amount") == "$150.00 a period"
    assert cell(limits, "When reached") == "Notify"
