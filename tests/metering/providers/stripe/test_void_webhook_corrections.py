"""An invoice voided in Stripe (the `invoice.voided` webhook) that carried corrections of an
earlier period: those corrections are billed again at the next close, to the cent, exactly
as when the vendor voids it through the API (both go through `invoices.lifecycle`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.invoices.models import InvoiceStatus, LineKind
from metering.billing.payments.models import SyncState
from metering.catalog.customers.models import Customer
from metering.ledger.outcomes.models import StalePeriod
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    invoices,
    lines,
    reopen,
    resolution,
    send,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.providers.stripe.factory import invoice_row
from tests.stripe_fake.harness import API_KEY, FakeStripe

JANUARY_CLOSE = datetime(2027, 1, 5, tzinfo=UTC)


def deliver_stripes_events(
    fake: FakeStripe, client: TestClient, settings: Settings, event_type: str
) -> list[dict[str, Any]]:
    """Stripe's own events of the type, POSTed signed as Stripe's webhook delivery does."""
    listed = fake.http.get(
        f"{fake.url}/v1/events",
        params={"type": event_type},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    listed.raise_for_status()
    receipts = []
    for stripe_event in listed.json()["data"]:
        payload = json.dumps(stripe_event).encode()
        stamp = int(time.time())
        secret = (settings.stripe_webhook_secret or "").encode()
        digest = hmac.new(secret, f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
        response = client.post(
            "/v1/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": f"t={stamp},v1={digest}"},
        )
        assert response.status_code == 200, response.text
        receipts.append(response.json())
    return receipts


def corrections(engine: Engine, invoice_id: str) -> list[tuple[str, str, datetime, str, Decimal]]:
    """(kind, charge, period, corrected invoice, amount) of the invoice's correction lines."""
    return [
        (line.kind, line.charge_key, line.period_start, line.corrects_invoice_id or "", line.amount)
        for line in lines(engine, invoice_id)
        if line.kind in (LineKind.CREDIT, LineKind.ADJUSTMENT)
    ]


def test_a_void_from_stripe_bills_the_voided_corrections_again(
    engine: Engine,
    settings: Settings,
    fake_stripe: FakeStripe,
    client: TestClient,
    vendor: VendorFixture,
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    with Session(engine) as session:  # sent invoices stay open in Stripe, so they can be voided
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.collection_method = "send_invoice"
        session.add(customer)
        session.commit()
    october_events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, [*october_events, deal("d1", at(3), "1000.50")], at(25))
    close(engine, at(5, month=11))
    # November: a conversation billed in October reopens, and a late October deal arrives.
    late = [reopen("o1", at(30), "c3"), deal("d2", at(31, hour=9), "200")]
    send(engine, vendor.id, late, at(10, month=11))
    close(engine, at(5, month=12))
    october, november = invoices(engine)
    carried = corrections(engine, november.id)
    assert [(kind, amount) for kind, _, _, _, amount in carried] == [
        ("credit", Decimal("-0.79")),
        ("adjustment", Decimal("3.00")),
    ]
    assert all(corrected == october.id for _, _, _, corrected, _ in carried)
    sync_due(engine, settings, now=at(5, month=12))
    stripe_id = invoice_row(engine, november.id).stripe_invoice_id
    assert stripe_id is not None
    assert invoice_row(engine, november.id).sync_state == SyncState.FINALIZED

    # The vendor voids November's invoice in Stripe's dashboard; Stripe tells us.
    fake_stripe.client().v1.invoices.void_invoice(stripe_id)
    (receipt,) = deliver_stripes_events(fake_stripe, client, settings, "invoice.voided")

    assert (receipt["invoice_id"], receipt["applied"], receipt["detail"]) == (
        november.id,
        True,
        "voided in Stripe",
    )
    voided = invoice_row(engine, november.id)
    assert (voided.status, voided.sync_state, voided.next_sync_at) == (
        InvoiceStatus.VOID,
        SyncState.VOID,
        None,
    )
    with Session(engine) as session:
        marks = session.exec(select(StalePeriod)).all()
        assert [(mark.customer_id, mark.period_start) for mark in marks] == [(customer_id, OCTOBER)]
    assert sync_due(engine, settings, now=at(6, month=12)).results == []  # voided there already

    close(engine, JANUARY_CLOSE)

    december = invoices(engine)[2]
    assert december.status == InvoiceStatus.ISSUED
    assert corrections(engine, december.id) == carried  # the same lines, to the cent
    with Session(engine) as session:
        assert session.exec(select(StalePeriod)).all() == []
