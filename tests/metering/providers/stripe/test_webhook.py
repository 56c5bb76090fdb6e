"""`POST /v1/stripe/webhook`: signatures, repeated and out-of-order deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.billing.payments.webhooks import WebhookOutcome
from metering.platform.settings import Settings
from metering.providers.stripe.endpoints import store_event
from metering.providers.stripe.models import StripeEventSeen
from metering.providers.stripe.webhook import event_of
from metering.surfaces.providers import sync_due
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice
from tests.stripe_fake.harness import FakeStripe

SECRET = "whsec_test_secret"
PAID_AT = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)


def signed(payload: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return {
        "Stripe-Signature": f"t={stamp},v1={digest.hexdigest()}",
        "Content-Type": "application/json",
    }


def event(event_id: str, event_type: str, stripe_invoice: dict[str, Any]) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "api_version": "2025-01-01",
        "data": {"object": {"object": "invoice", **stripe_invoice}},
    }
    return json.dumps(body).encode()


def deliver(client: TestClient, payload: bytes) -> dict[str, Any]:
    response = client.post("/v1/stripe/webhook", content=payload, headers=signed(payload))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def paid(stripe_id: str) -> dict[str, Any]:
    return {
        "id": stripe_id,
        "status": "paid",
        "status_transitions": {"paid_at": int(PAID_AT.timestamp())},
    }


@pytest.fixture
def sent(engine: Engine, settings: Settings, fake_stripe: FakeStripe) -> tuple[str, str]:
    """A send_invoice invoice synced to Stripe (open there, waiting for payment)."""
    invoice_id = issued_invoice(
        engine, billing(engine, collection_method="send_invoice"), ["20.00"]
    )
    sync_due(engine, settings, now=NOW)
    stripe_id = invoice_row(engine, invoice_id).stripe_invoice_id
    assert stripe_id is not None
    return invoice_id, stripe_id


def test_a_bad_signature_is_refused(client: TestClient, sent: tuple[str, str]) -> None:
    payload = event("evt_1", "invoice.paid", paid(sent[1]))

    wrong = client.post(
        "/v1/stripe/webhook", content=payload, headers=signed(payload, secret="whsec_other")
    )
    missing = client.post("/v1/stripe/webhook", content=payload)
    stale = client.post(
        "/v1/stripe/webhook", content=payload, headers=signed(payload, at=int(time.time()) - 3600)
    )

    for response in (wrong, missing, stale):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/stripe-signature-invalid"
    assert wrong.json()["detail"].startswith("Stripe-Signature does not verify: No signatures")
    assert "Timestamp outside the tolerance zone" in stale.json()["detail"]
    assert invoice_row(client.app.state.engine, sent[0]).status == InvoiceStatus.ISSUED  # type: ignore[attr-defined]


def test_paid_marks_the_invoice_paid_once(
    engine: Engine, client: TestClient, sent: tuple[str, str]
) -> None:
    invoice_id, stripe_id = sent
    payload = event("evt_paid", "invoice.paid", paid(stripe_id))

    first = deliver(client, payload)
    again = deliver(client, payload)

    assert first == {
        "received": True,
        "event_id": "evt_paid",
        "type": "invoice.paid",
        "invoice_id": invoice_id,
        "applied": True,
        "duplicate": False,
        "detail": "paid",
    }
    assert (again["invoice_id"], again["applied"], again["duplicate"], again["detail"]) == (
        invoice_id,
        False,
        True,
        "already applied",
    )
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.paid_at) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        PAID_AT,
    )
    with engine.connect() as connection:
        seen = connection.execute(sa.select(sa.func.count()).select_from(StripeEventSeen))
        assert seen.scalar_one() == 1


def test_out_of_order_deliveries_never_move_back_from_paid(
    engine: Engine, client: TestClient, sent: tuple[str, str]
) -> None:
    invoice_id, stripe_id = sent
    failed = {"id": stripe_id, "status": "open", "attempt_count": 1}

    deliver(client, event("evt_paid", "invoice.paid", paid(stripe_id)))
    late_failure = deliver(client, event("evt_failed", "invoice.payment_failed", failed))
    late_void = deliver(client, event("evt_void", "invoice.voided", {"id": stripe_id}))

    assert (late_failure["applied"], late_failure["detail"]) == (False, "invoice is paid")
    assert (late_void["applied"], late_void["detail"]) == (False, "invoice is paid")
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID


def test_payment_failed_then_paid_and_void_is_final(
    engine: Engine, client: TestClient, sent: tuple[str, str]
) -> None:
    invoice_id, stripe_id = sent
    failed = {"id": stripe_id, "status": "open", "attempt_count": 2}

    assert deliver(client, event("evt_1", "invoice.payment_failed", failed))["applied"]
    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.PAYMENT_FAILED
    assert invoice.sync_error == "Stripe reported a failed payment (attempt 2)"

    assert deliver(client, event("evt_2", "invoice.paid", paid(stripe_id)))["applied"]
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID


def test_voided_in_stripe_voids_ours_and_a_later_paid_changes_nothing(
    engine: Engine, client: TestClient, sent: tuple[str, str]
) -> None:
    invoice_id, stripe_id = sent
    voided = {
        "id": stripe_id,
        "status": "void",
        "status_transitions": {"voided_at": int(PAID_AT.timestamp())},
    }

    assert deliver(client, event("evt_1", "invoice.voided", voided))["detail"] == (
        "voided in Stripe"
    )
    late = deliver(client, event("evt_2", "invoice.paid", paid(stripe_id)))

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.voided_at) == (
        InvoiceStatus.VOID,
        SyncState.VOID,
        PAID_AT,
    )
    assert (late["applied"], late["detail"]) == (False, "invoice is void")


def test_an_invoice_whose_stripe_id_was_never_stored_is_found_by_metadata(
    engine: Engine, client: TestClient, fake_stripe: FakeStripe
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["1.00"])
    stripe_invoice = {**paid("in_unknown_to_us"), "metadata": {"metering_invoice_id": invoice_id}}

    result = deliver(client, event("evt_1", "invoice.paid", stripe_invoice))

    assert (result["invoice_id"], result["applied"]) == (invoice_id, True)
    assert invoice_row(engine, invoice_id).stripe_invoice_id == "in_unknown_to_us"


def test_other_events_and_other_invoices_are_acknowledged(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    customer = deliver(
        client,
        json.dumps(
            {
                "id": "evt_c",
                "object": "event",
                "type": "customer.created",
                "data": {"object": {"object": "customer"}},
            }
        ).encode(),
    )
    stranger = deliver(client, event("evt_s", "invoice.paid", paid("in_not_ours")))

    assert (customer["applied"], customer["detail"]) == (False, "not an event we use")
    assert (stranger["applied"], stranger["detail"]) == (False, "not one of our invoices")


def test_stripes_own_paid_event_pays_a_sent_invoice(
    engine: Engine, client: TestClient, fake_stripe: FakeStripe, sent: tuple[str, str]
) -> None:
    """The customer pays the sent invoice in Stripe; Stripe's event reaches the endpoint."""
    invoice_id, stripe_id = sent
    stripe = fake_stripe.client()
    stripe.v1.invoices.pay(stripe_id, {"paid_out_of_band": True})
    stripe_event = stripe.v1.events.list({"type": "invoice.paid"}).data[0]

    result = deliver(client, json.dumps(stripe_event.to_dict()).encode())

    assert (result["invoice_id"], result["applied"]) == (invoice_id, True)
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID


def test_the_same_event_delivered_twice_at_once_is_applied_once(
    engine: Engine, sent: tuple[str, str]
) -> None:
    invoice_id, stripe_id = sent
    start = threading.Barrier(2)
    outcomes: list[WebhookOutcome] = []

    def deliver_now() -> None:
        start.wait()
        invoice = {"object": "invoice", **paid(stripe_id)}
        outcomes.append(store_event(engine, event_of("evt_twice", "invoice.paid", invoice)))

    threads = [threading.Thread(target=deliver_now) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted((o.applied, o.duplicate) for o in outcomes) == [(False, True), (True, False)]
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID
