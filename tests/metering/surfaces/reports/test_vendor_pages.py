"""The vendor margin page behind /vendor/login (API key, signed cookie, CSRF)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.vendors.models import ApiKey
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import REPORTED, RULES, month_of_conversations

MARGIN = "/vendor/margin?period=2026-11"


def csrf_of(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def sign_in(client: Any, api_key: str, next_url: str = MARGIN) -> Any:
    form = client.get("/vendor/login", params={"next": next_url})
    return client.post(
        "/vendor/login",
        data={"api_key": api_key, "csrf_token": csrf_of(form.text), "next": next_url},
        follow_redirects=False,
    )


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan)
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    return customer


def test_the_page_needs_a_signed_in_vendor(app_client: Any, acme: str) -> None:
    response = app_client.get(MARGIN, follow_redirects=False)
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/vendor/login?next=%2Fvendor%2Fmargin%3Fperiod%3D2026-11"
    )
    app_client.cookies.set("vendor_session", "x.y.z")
    forged = app_client.get(MARGIN, follow_redirects=False)
    assert forged.status_code == 303


def test_sign_in_with_the_api_key_shows_the_margins(
    app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    signed = sign_in(app_client, vendor.api_key)
    assert signed.status_code == 303
    assert signed.headers["location"] == MARGIN
    cookie = signed.headers["set-cookie"]
    assert "vendor_session=" in cookie and "HttpOnly" in cookie and "Path=/vendor" in cookie
    assert vendor.api_key not in cookie
    page = app_client.get(MARGIN)
    assert page.status_code == 200
    text = page.text
    assert "Margin per outcome, 2026-11" in text
    assert "acme" in text and "Resolved conversation" in text
    assert "$0.97" in text  # 0.99 - 0.021, rounded for reading
    assert "97.9%" in text
    assert 'id="margin-usd">$20.91<' in text  # 20.99 - 0.078
    assert "of which unbilled $0.06" in text
    assert "1 event(s) with unpriced cost: model &#39;gpt-9&#39; has no token prices" in text
    assert text.count("<svg") == 2


def test_a_month_picker_with_the_months_before_and_after(
    app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key)
    text = app_client.get("/vendor/margin?period=2026-01&customer=acme").text
    assert '<input id="period" name="period" type="month" value="2026-01"' in text
    assert '<a href="/vendor/margin?period=2025-12&amp;customer=acme" rel="prev">' in text
    assert '<a href="/vendor/margin?period=2026-02&amp;customer=acme" rel="next">' in text
    quarter = app_client.get("/vendor/margin?period=2026-Q4").text
    assert 'type="month" value=""' in quarter and 'rel="prev"' not in quarter


def test_every_table_header_has_text(app_client: Any, vendor: VendorFixture, acme: str) -> None:
    sign_in(app_client, vendor.api_key)
    text = app_client.get(MARGIN).text
    assert "Resolved conversation" in text
    assert '"></th>' not in text and "<th></th>" not in text
    assert '<th scope="rowgroup" colspan="7">acme<br>' in text
    assert '<td class="num" data-label="Margin %">97.9%</td>' in text


def test_wrong_key_and_missing_csrf_are_refused(
    app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    wrong = sign_in(app_client, "mk_live_not-a-key")
    assert wrong.status_code == 401
    assert "This API key is not valid" in wrong.text
    assert "vendor_session=" not in wrong.headers.get("set-cookie", "")
    app_client.get("/vendor/login")
    forged = app_client.post(
        "/vendor/login",
        data={"api_key": vendor.api_key, "csrf_token": "guess", "next": MARGIN},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert app_client.get(MARGIN, follow_redirects=False).status_code == 303


def test_next_never_leaves_the_vendor_pages(app_client: Any, vendor: VendorFixture) -> None:
    signed = sign_in(app_client, vendor.api_key, "https://evil.example/")
    assert signed.headers["location"] == "/vendor/margin"


def test_revoking_the_key_or_logging_out_ends_the_session(
    engine: Engine, app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key)
    page = app_client.get(MARGIN)
    assert page.status_code == 200
    refused = app_client.post(
        "/vendor/logout", data={"csrf_token": "guess"}, follow_redirects=False
    )
    assert refused.headers["location"] == "/vendor/margin"  # no CSRF token: still signed in
    assert app_client.get(MARGIN).status_code == 200
    out = app_client.post(
        "/vendor/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert out.headers["location"] == "/vendor/login"
    assert app_client.get(MARGIN, follow_redirects=False).status_code == 303
    sign_in(app_client, vendor.api_key)
    with Session(engine) as session:
        for key in session.exec(select(ApiKey).where(ApiKey.vendor_id == vendor.id)):
            key.revoked_at = datetime.now(UTC)
            session.add(key)
        session.commit()
    assert app_client.get(MARGIN, follow_redirects=False).status_code == 303


def test_a_vendor_sees_only_its_customers(
    engine: Engine, app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    other = create_vendor(engine, "Other AI")
    sign_in(app_client, other.api_key)
    page = app_client.get(MARGIN)
    assert "No customer has a period 2026-11" in page.text
    assert "acme" not in page.text


def test_the_customer_filter_takes_either_id(
    engine: Engine, app_client: Any, vendor: VendorFixture, acme: str
) -> None:
    globex = create_customer(engine, vendor.id, "globex", None)
    sign_in(app_client, vendor.api_key)
    for ref in ("acme", acme):
        page = app_client.get(f"{MARGIN}&customer={ref}")
        assert 'id="margin-usd">$20.91<' in page.text
    for ref in ("globex", globex, "nobody"):
        page = app_client.get(f"{MARGIN}&customer={ref}")
        assert "acme" not in page.text.split("<main", 1)[1]


def test_a_bad_period_is_explained(app_client: Any, vendor: VendorFixture) -> None:
    sign_in(app_client, vendor.api_key)
    page = app_client.get("/vendor/margin?period=soon")
    assert page.status_code == 422
    assert "expected a month such as 2026-11" in page.text
