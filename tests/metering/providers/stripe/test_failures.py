"""Failures: transient ones come back with backoff, permanent ones stop and say why."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.billing.payments.sync import SyncNotRetryable, retry_sync
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.billing.invoices.helpers import update_payment_link
from tests.metering.providers.stripe.factory import (
    FIVE_LINES,
    NOW,
    billing,
    invoice_row,
    issued_invoice,
)
from tests.stripe_fake.harness import FakeStripe


def stripe_invoices(fake_stripe: FakeStripe, customer: str) -> list[str]:
    listed = fake_stripe.client().v1.invoices.list({"customer": customer, "limit": 100})
    return [invoice.id for invoice in listed.data]


@pytest.mark.parametrize(
    ("status", "error"), [(500, "APIError (HTTP 500)"), (429, "RateLimitError (HTTP 429)")]
)
def test_server_errors_and_rate_limits_are_retried_with_backoff(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe, status: int, error: str
) -> None:
    card = fake_stripe.customer_with_card()
    billed = billing(engine, stripe_customer_id=card)
    invoice_id = issued_invoice(engine, billed, FIVE_LINES)
    fake_stripe.fault(status, count=2, path="/v1/invoiceitems")

    first = sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert [r.outcome for r in first.results] == ["retry"]
    assert invoice.sync_state == SyncState.INVOICE_CREATED
    assert invoice.sync_error == f"Stripe {error}: Injected by the test harness"
    assert invoice.sync_attempts == 1
    assert invoice.sync_lease_owner is None
    # base 30 s, first retry: between half and all of it
    assert (
        NOW + timedelta(seconds=15) <= (invoice.next_sync_at or NOW) <= NOW + timedelta(seconds=30)
    )
    assert sync_due(engine, settings, now=NOW + timedelta(seconds=14)).results == []

    second_at = invoice.next_sync_at or NOW
    sync_due(engine, settings, now=second_at)
    invoice = invoice_row(engine, invoice_id)
    assert invoice.sync_attempts == 2
    delay = (invoice.next_sync_at or NOW) - second_at
    assert timedelta(seconds=30) <= delay <= timedelta(seconds=60)  # doubled

    sync_due(engine, settings, now=invoice.next_sync_at)
    invoice = invoice_row(engine, invoice_id)
    assert invoice.sync_attempts == 0
    assert (invoice.status, invoice.sync_state, invoice.sync_error) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        None,
    )
    assert stripe_invoices(fake_stripe, card) == [invoice.stripe_invoice_id]
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert len(remote.lines.data) == 5


def test_backoff_stops_growing_at_the_cap(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine)
    invoice_id = issued_invoice(engine, billed, FIVE_LINES)
    update_payment_link(engine, invoice_id, attempts=12)
    fake_stripe.fault(503)

    sync_due(engine, settings, now=NOW)

    due = invoice_row(engine, invoice_id).next_sync_at or NOW
    assert NOW + timedelta(minutes=5) <= due <= NOW + timedelta(minutes=10)  # cap 10 min


def test_connection_refused_is_transient(
    engine: Engine, database_url: str, settings: Settings
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    nowhere = settings.model_copy(update={"stripe_api_base": f"http://127.0.0.1:{port}"})
    invoice_id = issued_invoice(engine, billing(engine), FIVE_LINES)

    report = sync_due(engine, nowhere, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert [r.outcome for r in report.results] == ["retry"]
    assert invoice.sync_state == SyncState.NOT_STARTED
    assert (invoice.sync_error or "").startswith("Stripe APIConnectionError")
    assert invoice.next_sync_at is not None and invoice.next_sync_at > NOW


def test_a_refused_request_is_permanent_and_kept(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, stripe_customer_id="cus_deleted_in_stripe")
    invoice_id = issued_invoice(engine, billed, FIVE_LINES)

    report = sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert [r.outcome for r in report.results] == ["error"]
    assert invoice.sync_state == SyncState.NOT_STARTED
    assert invoice.sync_error == "Stripe InvalidRequestError (HTTP 404): Not Found"
    assert invoice.next_sync_at is None
    assert invoice.sync_attempts == 0
    assert sync_due(engine, settings, now=NOW + timedelta(days=1)).results == []


def test_a_line_not_rounded_to_the_cent_is_refused(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["1.005"])

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    line = line_rows(engine, invoice_id)[0]
    assert invoice.sync_state == SyncState.INVOICE_CREATED
    assert invoice.sync_error == (
        f"line 1 ({line.id}): 1.005 usd is not rounded to the currency's minor unit"
    )
    assert invoice.next_sync_at is None


def test_a_total_stripe_disagrees_with_is_not_collected(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    card = fake_stripe.customer_with_card()
    billed = billing(engine, stripe_customer_id=card)
    invoice_id = issued_invoice(engine, billed, ["10.00", "2.50"], total=Decimal("12.51"))

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.sync_state == SyncState.ITEMS_CREATED
    assert invoice.sync_error == (
        f"Stripe invoice {invoice.stripe_invoice_id} totals 12.50 usd, "
        "ours 12.51 usd: not collected; void the invoice once the difference is understood"
    )
    assert invoice.next_sync_at is None
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert (remote.status, remote.amount_paid) == ("open", 0)


def test_declined_card_fails_the_payment_and_a_retry_pays(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    card = fake_stripe.customer_with_card("pm_card_chargeCustomerFail")
    billed = billing(engine, stripe_customer_id=card)
    invoice_id = issued_invoice(engine, billed, FIVE_LINES)

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state) == (InvoiceStatus.PAYMENT_FAILED, SyncState.FAILED)
    assert (
        invoice.sync_error == "Stripe CardError (HTTP 402) [card_declined]: Your card was declined."
    )
    assert invoice.next_sync_at == NOW + timedelta(days=3)  # the first scheduled retry
    assert sync_due(engine, settings, now=NOW + timedelta(days=1)).results == []

    # The customer fixes the card; the operator retries.
    fake_stripe.client().v1.customers.update(
        card, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    later = NOW + timedelta(days=2)
    with Session(engine) as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        retry_sync(session, row, now=later)
        session.commit()
    assert invoice_row(engine, invoice_id).sync_state == SyncState.FINALIZED
    fake_stripe.clear_requests()

    sync_due(engine, settings, now=later)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.sync_error) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        None,
    )
    assert [r["path"].rsplit("/", 1)[-1] for r in fake_stripe.requests()] == ["pay"]
    assert stripe_invoices(fake_stripe, card) == [invoice.stripe_invoice_id]
    with Session(engine) as session, pytest.raises(SyncNotRetryable, match="is paid"):
        row = session.get(Invoice, invoice_id)
        assert row is not None
        retry_sync(session, row)
