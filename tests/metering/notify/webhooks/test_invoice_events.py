"""invoice.issued is enqueued by the close; invoice.paid / payment_failed where Stripe's
answers move the invoice; each in the transaction that makes the change, once."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments import state
from metering.providers.stripe.webhook import apply_event, event_of
from tests.metering.billing.invoices.helpers import (
    RULES,
    at,
    close,
    invoices,
    resolution,
    send,
    update_payment_link,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload

TYPES = ["invoice.issued", "invoice.paid", "invoice.payment_failed"]
CLOSED = datetime(2026, 11, 5, tzinfo=UTC)


def issue_october(engine: Engine, vendor: VendorFixture) -> str:
    """acme's October invoice, issued: 10 resolutions, 2 free, 5 x 0.99 + 3 x 0.79 + 20.00."""
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, datetime(2026, 10, 1, tzinfo=UTC))
    events = [resolution(f"r{n}", at(n + 1), f"c{n}") for n in range(10)]
    send(engine, vendor.id, events, at(20))
    report = close(engine, CLOSED)
    assert len(report.invoices) == 1
    return report.invoices[0].id


def stripe_event(session: Session, event_id: str, kind: str, invoice_id: str) -> None:
    stripe_invoice = {
        "object": "invoice",
        "id": "in_1",
        "metadata": {"metering_invoice_id": invoice_id},
    }
    apply_event(session, event_of(event_id, kind, stripe_invoice))
    session.commit()


def test_the_close_enqueues_invoice_issued_once(engine: Engine, vendor: VendorFixture) -> None:
    endpoint = add_endpoint(engine, vendor.id, "https://a.test/hook", TYPES)
    invoice_id = issue_october(engine, vendor)
    close(engine, CLOSED)  # nothing more is due: no second event

    made = deliveries(engine)
    assert [(d.endpoint_id, d.event_type) for d in made] == [(endpoint.id, "invoice.issued")]
    data = payload(made[0])["data"]
    assert data == {
        "invoice": invoice_id,
        "number": 1,
        "status": "issued",
        "customer": {"id": invoices(engine)[0].customer_id, "external_id": "acme"},
        "period": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
        "total": "27.32",
        "currency": "usd",
    }


def test_paid_and_payment_failed_from_stripe_webhooks(
    engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = issue_october(engine, vendor)
    add_endpoint(engine, vendor.id, "https://a.test/hook", TYPES)
    with Session(engine) as session:
        stripe_event(session, "evt_s1", "invoice.payment_failed", invoice_id)
        stripe_event(session, "evt_s1", "invoice.payment_failed", invoice_id)  # repeated
        stripe_event(session, "evt_s2", "invoice.finalized", invoice_id)
        stripe_event(session, "evt_s3", "invoice.paid", invoice_id)
        stripe_event(session, "evt_s4", "invoice.payment_failed", invoice_id)  # late: paid stays

    made = [payload(d) for d in deliveries(engine)]
    assert [body["type"] for body in made] == ["invoice.payment_failed", "invoice.paid"]
    assert made[0]["data"]["status"] == "payment_failed"
    assert made[1]["data"]["status"] == "paid" and made[1]["data"]["total"] == "27.32"
    assert invoices(engine)[0].status == InvoiceStatus.PAID.value


def test_paid_by_the_sync_step_is_announced_with_the_status_change(
    engine: Engine, vendor: VendorFixture
) -> None:
    invoice_id = issue_october(engine, vendor)
    add_endpoint(engine, vendor.id, "https://a.test/hook", TYPES)
    update_payment_link(engine, invoice_id, lease_owner="worker")
    paid = partial(lifecycle.mark_paid, invoice_id=invoice_id, at=CLOSED)
    state.write(engine, invoice_id, "worker", {}, paid)
    state.write(engine, invoice_id, "worker", {}, paid)  # already paid: no second event

    assert [payload(d)["type"] for d in deliveries(engine)] == ["invoice.paid"]
    assert payload(deliveries(engine)[0])["data"]["paid_at"] == "2026-11-05T00:00:00Z"
