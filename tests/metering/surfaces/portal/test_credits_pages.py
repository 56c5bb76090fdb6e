"""The portal's Credits page: balance, grants, history, run-out date, buying the amount the customer
picks within the vendor's offer (`/v1/vendor/portal_credit_purchases`);
the overview shows the balance and what credits pay of the projected invoice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.credits.models import CreditGrant
from metering.billing.credits.schemas import CurrencyBalance
from metering.billing.invoices.models import Invoice
from metering.platform.db.types import utcnow
from metering.surfaces.portal.credits import run_out
from tests.metering.billing.credit_purchases.test_auto_top_up import _deal
from tests.metering.billing.credit_purchases.test_purchase_api import _customer
from tests.metering.billing.credits.helpers import grant
from tests.metering.conftest import VendorFixture
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import csrf_of, sign_in
from tests.metering.surfaces.portal.test_invoices_pages import text_of


def test_credits_page_shows_balance_grants_history_and_run_out(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    grant(
        engine,
        customer_id,
        "100.00",
        utcnow() - timedelta(days=1),
        name="Welcome pack",
        expires_at=utcnow() + timedelta(days=400),
    )
    _deal(app_client, vendor, "d1", 1000)  # 15.00 this period so far
    sign_in(app_client, vendor.api_key, customer_id)

    page = app_client.get("/portal/credits")

    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "Balance (USD) $100.00" in text
    assert "$15.00 would pay this period's invoice so far, leaving $85.00." in text
    assert "your credits run out around" in text
    assert "Welcome pack Promotional Active" in text
    assert "Granted" in text
    assert 'aria-current="page">Credits' in page.text
    assert "Buy credits" not in text  # the vendor sells no credits in the portal

    overview = text_of(app_client.get("/portal").text)
    assert "Credits $100.00" in overview
    assert "$15.00 of the projected invoice is paid by credits." in overview


OFFER = {"enabled": True, "amounts": {"usd": {"minimum": "10.00", "maximum": "500.00"}}}


def _offer(app_client: TestClient, vendor: VendorFixture, offer: dict[str, object]) -> None:
    answer = app_client.put(
        "/v1/vendor/portal_credit_purchases", json=offer, headers=bearer(vendor.api_key)
    )
    assert answer.status_code == 200, answer.text


def test_buy_credits_issues_the_purchase_invoice_of_the_amount_picked(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    # A customer's automatic top-up is no offer: the vendor's setting is.
    pack = {"below": "0", "amount": "50.00", "price": "45.00"}
    set_pack = app_client.put(
        f"/v1/customers/{customer_id}/auto_top_up", json=pack, headers=bearer(vendor.api_key)
    )
    assert set_pack.status_code == 200, set_pack.text
    sign_in(app_client, vendor.api_key, customer_id)
    assert "Buy credits" not in text_of(app_client.get("/portal/credits").text)
    _offer(app_client, vendor, OFFER)
    page = app_client.get("/portal/credits")
    assert "Amount (USD)" in text_of(page.text)
    assert "Between $10.00 and $500.00; you pay the amount you buy" in text_of(page.text)

    bought = app_client.post(
        "/portal/credits/buy",
        data={"csrf_token": csrf_of(page.text), "amount": "75.50", "currency": "usd"},
        follow_redirects=False,
    )

    assert bought.status_code == 303, bought.text
    with Session(engine) as session:
        [invoice] = session.exec(select(Invoice)).all()
        [bought_grant] = session.exec(select(CreditGrant)).all()
    assert (invoice.kind, invoice.total, invoice.status) == (
        "credit_purchase",
        Decimal("75.50"),
        "issued",
    )
    assert (bought_grant.amount, bought_grant.category, bought_grant.status) == (
        Decimal("75.50"),
        "paid",
        "pending_payment",
    )
    assert bought.headers["location"] == f"/portal/invoices/{invoice.id}"
    shown = text_of(app_client.get(bought.headers["location"]).text)
    assert "Prepaid credits: 75.50 USD" in shown and "$75.50" in shown
    after = text_of(app_client.get("/portal/credits").text)
    assert "Credits bought in the portal Paid Awaiting payment" in after
    forged = app_client.post(
        "/portal/credits/buy", data={"csrf_token": "nope", "amount": "20.00", "currency": "usd"}
    )
    assert forged.status_code == 403
    with Session(engine) as session:
        assert len(session.exec(select(Invoice)).all()) == 1


def test_an_amount_the_vendor_does_not_allow_is_refused_naming_the_field(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    sign_in(app_client, vendor.api_key, customer_id)
    off = app_client.get("/portal/credits")
    refused_off = app_client.post(
        "/portal/credits/buy",
        data={"csrf_token": csrf_of(off.text), "amount": "20.00", "currency": "usd"},
    )
    assert refused_off.status_code == 409
    assert "Your vendor does not sell credits in the portal." in text_of(refused_off.text)
    _offer(app_client, vendor, OFFER)
    token = csrf_of(app_client.get("/portal/credits").text)
    cases = [
        ("5.00", "usd", "Amount: must be between 10.00 and 500.00 USD."),
        ("500.01", "usd", "Amount: must be between 10.00 and 500.00 USD."),
        ("12.345", "usd", "Amount: 12.345 has more decimals than usd has (2)."),
        ("lots", "usd", "Amount: say an amount like 50.00."),
        ("-20", "usd", "Amount: must be above zero."),
        ("20.00", "eur", "Currency: credits cannot be bought in this currency here."),
    ]
    for amount, currency, message in cases:
        refused = app_client.post(
            "/portal/credits/buy",
            data={"csrf_token": token, "amount": amount, "currency": currency},
        )
        assert refused.status_code == 422, (amount, refused.text)
        assert message in text_of(refused.text), amount
        assert f'value="{amount}"' in refused.text
    with Session(engine) as session:
        assert session.exec(select(Invoice)).all() == []
        assert session.exec(select(CreditGrant)).all() == []


def test_the_vendor_setting_is_off_by_default_and_refuses_bad_amounts(
    app_client: TestClient, vendor: VendorFixture
) -> None:
    path = "/v1/vendor/portal_credit_purchases"
    auth = bearer(vendor.api_key)
    assert app_client.get(path, headers=auth).json() == {"enabled": False, "amounts": {}}
    cases = [
        ({"enabled": True}, "amounts"),
        ({"enabled": True, "amounts": {"xyz": {"minimum": "1", "maximum": "2"}}}, "amounts.xyz"),
        (
            {"enabled": True, "amounts": {"usd": {"minimum": "0", "maximum": "2"}}},
            "amounts.usd.minimum",
        ),
        (
            {"enabled": True, "amounts": {"usd": {"minimum": "10", "maximum": "5"}}},
            "amounts.usd.maximum",
        ),
        (
            {"enabled": True, "amounts": {"jpy": {"minimum": "10.5", "maximum": "50"}}},
            "amounts.jpy.minimum",
        ),
    ]
    for body, field in cases:
        refused = app_client.put(path, json=body, headers=auth)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field, body
        assert refused.json()["detail"].startswith(field + ":")
    assert app_client.get(path, headers=auth).json() == {"enabled": False, "amounts": {}}
    set_ = app_client.put(
        path,
        json={"enabled": True, "amounts": {"USD": {"minimum": "10", "maximum": "500.5"}}},
        headers=auth,
    )
    assert set_.status_code == 200, set_.text
    expected = {"enabled": True, "amounts": {"usd": {"minimum": "10.00", "maximum": "500.50"}}}
    assert set_.json() == expected
    assert app_client.get(path, headers=auth).json() == expected


def test_the_run_out_date_is_what_is_left_over_the_periods_daily_burn() -> None:
    """15.00 drawn over the 10 days the period has run is 1.50 a day; the 45.00 left after
    it lasts 30 more days from now. Nothing drawn: no date."""
    now = datetime(2026, 11, 11, 12, tzinfo=UTC)
    line = CurrencyBalance(
        currency="usd",
        available="60.00",
        projected_draw="15.00",
        available_after_projection="45.00",
        expiring_soon=[],
    )
    assert run_out(line, Decimal(10), now) == (
        Decimal("1.5"),
        datetime(2026, 12, 11, 12, tzinfo=UTC),
    )
    idle = line.model_copy(update={"projected_draw": "0.00", "available_after_projection": "60.00"})
    assert run_out(idle, Decimal(10), now) == (None, None)
    assert run_out(line, None, now) == (None, None)
