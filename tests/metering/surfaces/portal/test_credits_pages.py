"""The portal's Credits page: balance, grants, history, run-out date, buying the vendor's pack;
the overview shows the balance and what credits pay of the projected invoice."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.invoices.models import Invoice
from metering.platform.db.types import utcnow
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
    assert "Buy credits" not in text  # the vendor sets no pack for this customer

    overview = text_of(app_client.get("/portal").text)
    assert "Credits $100.00" in overview
    assert "$15.00 of the projected invoice is paid by credits." in overview


def test_buy_credits_issues_the_purchase_invoice_and_shows_it(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    pack = {"below": "0", "amount": "50.00", "price": "45.00"}
    set_pack = app_client.put(
        f"/v1/customers/{customer_id}/auto_top_up", json=pack, headers=bearer(vendor.api_key)
    )
    assert set_pack.status_code == 200, set_pack.text
    sign_in(app_client, vendor.api_key, customer_id)
    page = app_client.get("/portal/credits")
    assert "$50.00 of credits for $45.00" in text_of(page.text)

    bought = app_client.post(
        "/portal/credits/buy", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )

    assert bought.status_code == 303, bought.text
    with Session(engine) as session:
        [invoice] = session.exec(select(Invoice)).all()
    assert bought.headers["location"] == f"/portal/invoices/{invoice.id}"
    shown = text_of(app_client.get(bought.headers["location"]).text)
    assert "Prepaid credits" in shown and "$45.00" in shown
    after = text_of(app_client.get("/portal/credits").text)
    assert "Credits bought in the portal Paid Awaiting payment" in after
    forged = app_client.post("/portal/credits/buy", data={"csrf_token": "nope"})
    assert forged.status_code == 403
