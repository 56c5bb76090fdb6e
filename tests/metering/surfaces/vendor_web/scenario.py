"""Two vendors' books for the console tests, made through the services the API uses.

Vendor A ("Acme AI") has three customers on one plan, each invoiced for October 2026 (acme's
payment failed, globex's invoice is open, initech's is paid), a deal in the current period
(so the upcoming totals have something to rate), an open dispute of acme's, a failed
webhook delivery and an alert that fired. Vendor B ("Other AI") has one customer of its own:
every test that tries A's objects while signed in as B must get a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.db.types import utcnow
from metering.platform.outbox.models import DeliveryStatus, WebhookDelivery
from tests.metering.billing.invoices.helpers import (
    RULES,
    at,
    close,
    deal,
    resolution,
    send,
    update_invoice,
    update_payment_link,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.ledger.disputes.helpers import file_dispute
from tests.metering.ledger.events.helpers import recent
from tests.metering.notify.alerts.helpers import add_alert, fire
from tests.metering.notify.webhooks.helpers import add_endpoint
from tests.metering.surfaces.reports.test_vendor_pages import csrf_of

OCTOBER_START = datetime(2026, 10, 1, tzinfo=UTC)
CLOSED_AT = at(5, month=11)
ENDPOINT_URL = "http://127.0.0.1:9/hooks"


@dataclass(frozen=True)
class Books:
    vendor: VendorFixture
    other: VendorFixture
    customers: dict[str, str]
    invoices: dict[str, str]
    dispute: str
    delivery: str
    other_customer: str


def _invoice_of(engine: Engine, customer_id: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Invoice.id).where(Invoice.customer_id == customer_id)).one()


def build(engine: Engine) -> Books:
    vendor = create_vendor(engine, "Acme AI")
    plan = create_plan(engine, vendor.id, RULES)
    names = ("acme", "globex", "initech")
    customers = {n: create_customer(engine, vendor.id, n, plan, OCTOBER_START) for n in names}
    october: list[dict[str, Any]] = []
    for name in names:
        october += [resolution(f"{name}-r{n}", at(10), f"{name}-c{n}", name) for n in range(4)]
        october.append(deal(f"{name}-d1", at(12), "100", name))
    send(engine, vendor.id, october, at(13))
    add_endpoint(engine, vendor.id, ENDPOINT_URL, ["outcome.disputed"])
    close(engine, CLOSED_AT)
    invoices = {name: _invoice_of(engine, customer_id) for name, customer_id in customers.items()}
    update_invoice(engine, invoices["acme"], status=InvoiceStatus.PAYMENT_FAILED.value)
    update_payment_link(
        engine,
        invoices["acme"],
        step=SyncState.FAILED.value,
        error="Your card was declined.",
        decline_code="card_declined",
        first_failed_at=CLOSED_AT,
    )
    update_invoice(engine, invoices["initech"], status=InvoiceStatus.PAID.value, paid_at=CLOSED_AT)
    dispute = file_dispute(engine, customers["acme"], "acme-r0", at(6, month=11), "Reopened")
    with Session(engine) as session:
        delivery = session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).one()
        delivery.status = DeliveryStatus.FAILED.value
        delivery.last_error = "connection refused"
        session.add(delivery)
        session.commit()
        delivery_id = delivery.id
    add_alert(
        engine, vendor.id, kind="spend", threshold="1", plan="support-agent", name="Any spend"
    )
    fire(engine, at(20))
    send(engine, vendor.id, [{**deal("acme-now", at(1), "1000"), "timestamp": recent()}], utcnow())
    other = create_vendor(engine, "Other AI")
    other_customer = create_customer(engine, other.id, "hooli")
    return Books(vendor, other, customers, invoices, dispute, delivery_id, other_customer)


def sign_in(client: TestClient, api_key: str) -> None:
    """Sign the client in at /vendor/login with the vendor's API key."""
    client.cookies.clear()
    form = client.get("/vendor/login")
    signed = client.post(
        "/vendor/login",
        data={"api_key": api_key, "csrf_token": csrf_of(form.text), "next": "/vendor/customers"},
        follow_redirects=False,
    )
    assert signed.status_code == 303


def csrf(client: TestClient) -> str:
    """The signed-in session's form token, as a console page carries it."""
    return csrf_of(client.get("/vendor/alerts").text)


def invoice_status(engine: Engine, invoice_id: str) -> str:
    with Session(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        return invoice.status
