"""Automatic top-up: when the balance after the open period's projected draw drops below the
threshold, a paid grant is bought (through the customer's provider, here `manual`), once per
drop; the top-up is armed again once the balance is back above the threshold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from metering.billing.credit_purchases import top_up
from metering.billing.credit_purchases.schemas import AutoTopUpSet
from metering.billing.credits.models import CreditGrant
from metering.billing.invoices.models import Invoice
from metering.catalog.customers.models import Customer
from metering.platform.db.types import utcnow
from metering.platform.settings import get_settings
from metering.surfaces.cli.main import app
from tests.metering.billing.credit_purchases.test_purchase_api import _customer, _get
from tests.metering.billing.credits.helpers import grant
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.platform.api.support import bearer, keyed

MANUAL = {"manual"}
runner = CliRunner()


@pytest.fixture
def cli_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _deal(client: TestClient, vendor: VendorFixture, event_id: str, amount: int) -> None:
    """A closed deal: 1.5% of `amount` is charged at once (no settlement wait)."""
    event = {
        "id": event_id,
        "type": "deal.closed",
        "customer": "acme",
        "timestamp": (utcnow() - timedelta(minutes=5)).isoformat(),
        "properties": {"amount": amount},
    }
    answer = client.post("/v1/events", json=event, headers=bearer(vendor.api_key))
    assert answer.status_code == 201, answer.text


def _grants(client: TestClient, vendor: VendorFixture, customer_id: str) -> list[Any]:
    listed = _get(client, vendor, f"/v1/customers/{customer_id}/credit_grants")
    return [(g["name"], g["status"], g["remaining"], g["metadata"]) for g in listed["data"]]


def test_a_drop_below_the_threshold_buys_once_and_rearms_when_paid(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    auth = bearer(vendor.api_key)
    base = f"/v1/customers/{customer_id}"
    promo = {"amount": "30.00", "category": "promotional", "name": "Welcome"}
    made = app_client.post(f"{base}/credit_grants", json=promo, headers=keyed(vendor.api_key))
    assert made.status_code == 201
    configured = app_client.put(
        f"{base}/auto_top_up",
        json={"below": "20.00", "amount": "100.00", "price": "95.00"},
        headers=auth,
    )
    assert configured.status_code == 200, configured.text
    assert configured.json()["armed"] is True

    _deal(app_client, vendor, "d1", 1000)  # 15.00 projected: 30.00 - 15.00 = 15.00 < 20.00

    assert _grants(app_client, vendor, customer_id) == [
        ("Welcome", "active", "30.00", {}),
        ("Automatic top-up", "pending_payment", "0.00", {"auto_top_up_crossing": 1}),
    ]
    state = _get(app_client, vendor, f"{base}/auto_top_up")
    assert (state["armed"], state["crossings"]) == (False, 1)
    assert state["checked_at"] is not None

    # The same drop, seen again (another event, a close): nothing more is bought.
    _deal(app_client, vendor, "d2", 100)
    assert top_up.check_customers(engine, [customer_id], MANUAL, throttled=False) == []
    assert len(_grants(app_client, vendor, customer_id)) == 2

    # The purchase invoice is paid: 130.00 - 16.50 is above the threshold, armed again.
    [bought] = [
        g
        for g in _get(app_client, vendor, f"{base}/credit_grants")["data"]
        if g["purchase_invoice_id"]
    ]
    invoice = _get(app_client, vendor, f"/v1/invoices/{bought['purchase_invoice_id']}")
    assert (invoice["kind"], invoice["total"]) == ("credit_purchase", "95.00")
    paid = app_client.post(
        f"/v1/invoices/{invoice['id']}/payments",
        json={"amount": "95.00", "paid_on": utcnow().date().isoformat(), "reference": "T-1"},
        headers=auth,
    )
    assert paid.status_code == 201, paid.text
    assert top_up.check_customers(engine, [customer_id], MANUAL, throttled=False) == []
    state = _get(app_client, vendor, f"{base}/auto_top_up")
    assert (state["armed"], state["crossings"]) == (True, 1)

    # A second drop (the big grant voided) buys again, under the next crossing.
    void = app_client.post(f"/v1/credit_grants/{bought['id']}/void", headers=auth)
    assert void.status_code == 200, void.text
    bought_again = top_up.check_customers(engine, [customer_id], MANUAL, throttled=False)
    assert len(bought_again) == 1
    assert _grants(app_client, vendor, customer_id)[-1] == (
        "Automatic top-up",
        "pending_payment",
        "0.00",
        {"auto_top_up_crossing": 2},
    )


def test_checks_on_the_ingestion_path_are_at_most_once_a_minute(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    auth = bearer(vendor.api_key)
    body = {"below": "20.00", "amount": "100.00", "price": "95.00"}
    assert (
        app_client.put(
            f"/v1/customers/{customer_id}/auto_top_up", json=body, headers=auth
        ).status_code
        == 200
    )
    now = utcnow()

    assert top_up.check_customers(engine, [customer_id], MANUAL, now=now) != []
    assert top_up.check_customers(engine, [customer_id], MANUAL, now=now) == []
    # a minute later it is checked again (and, still disarmed, buys nothing)
    later = now + timedelta(minutes=1)
    assert top_up.check_customers(engine, [customer_id], MANUAL, now=later) == []
    state = _get(app_client, vendor, f"/v1/customers/{customer_id}/auto_top_up")
    assert state["crossings"] == 1


def test_a_bad_top_up_is_refused_naming_the_field(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    customer_id = _customer(engine, vendor, plan_id, "manual")
    path = f"/v1/customers/{customer_id}/auto_top_up"
    auth = bearer(vendor.api_key)
    cases = [
        ({"below": "20", "amount": "0", "price": "5"}, "amount"),
        ({"below": "20", "amount": "10", "price": "5.001"}, "price"),
        ({"below": "20", "amount": "10", "price": "0"}, "price"),
        ({"below": "20", "amount": "10", "price": "5", "currency": "eur"}, "currency"),
    ]
    for body, field in cases:
        refused = app_client.put(path, json=body, headers=auth)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
    assert app_client.get(path, headers=auth).status_code == 404


def test_a_close_that_draws_the_balance_down_buys_the_top_up(
    engine: Engine, vendor: VendorFixture, plan_id: str, cli_database: str
) -> None:
    """October bills 15.00 (1.5% of a 1,000 deal), paid by a 20.00 grant: 5.00 is left,
    below the 10.00 threshold, so `metering invoices run` buys the top-up after the close."""
    october = datetime(2026, 10, 1, tzinfo=UTC)
    customer_id = create_customer(engine, vendor.id, "acme", plan_id, starts_at=october)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.payment_provider = "manual"
        top_up.configure(
            session,
            customer,
            AutoTopUpSet(below="10.00", amount="100.00", price="95.00"),
            MANUAL,
            october,
        )
        session.commit()
    grant(engine, customer_id, "20.00", october, effective_at=october)
    deal = resolution_free_deal(datetime(2026, 10, 10, tzinfo=UTC))
    ingest_all(engine, vendor.id, [deal], datetime(2026, 10, 10, 1, tzinfo=UTC))

    ran = runner.invoke(app, ["invoices", "run", "--as-of", "2026-11-05T00:00:00Z"])

    assert ran.exit_code == 0, ran.output
    with Session(engine) as session:
        grants = session.exec(select(CreditGrant).order_by(col(CreditGrant.created_at))).all()
        assert [(g.amount, g.remaining, g.status) for g in grants] == [
            (Decimal("20.00"), Decimal("5.00"), "active"),
            (Decimal("100.00"), Decimal("0"), "pending_payment"),
        ]
        purchase = session.get(Invoice, grants[1].purchase_invoice_id)
        assert purchase is not None and purchase.total == Decimal("95.00")


def resolution_free_deal(at: datetime) -> dict[str, Any]:
    return {
        "id": "deal-1",
        "type": "deal.closed",
        "customer": "acme",
        "timestamp": at.isoformat(),
        "properties": {"amount": 1000},
    }
