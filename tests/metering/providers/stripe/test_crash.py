"""A worker SIGKILLed at any point of the sync leaves work the next one finishes, with
exactly one Stripe invoice holding exactly our lines.

The worker is a real child process (forked, so it starts without importing everything
again); the harness SIGKILLs it when it sends its n-th Stripe request, either before Stripe
carries the request out or after (Stripe did it, the worker never heard back, so our commit
of that step never happened).
"""

from __future__ import annotations

import multiprocessing
import signal
from datetime import timedelta
from multiprocessing.connection import Connection

import pytest
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.db.engine import make_engine
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.billing.invoices.helpers import update_payment_link
from tests.metering.providers.stripe.conftest import sync_settings
from tests.metering.providers.stripe.factory import (
    NOW,
    billing,
    invoice_row,
    issued_invoice,
    stripe_customer_of,
    stripe_items,
)
from tests.stripe_fake.harness import FakeStripe

THREE_LINES = ["41.58", "-1.98", "3.41"]


def worker(database_url: str, api_base: str, go: Connection) -> None:
    """The child: its own engine (nothing shared with the parent's pool), one sync pass."""
    go.recv()
    engine = make_engine(database_url)
    sync_due(engine, sync_settings(database_url, api_base), now=NOW)


def sync_killed_at(
    fake_stripe: FakeStripe, database_url: str, request_number: int, when: str
) -> list[str]:
    """Run a sync in a child process that dies at the given request; the requests seen."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=worker, args=(database_url, fake_stripe.url, receive))
    child.start()
    assert child.pid is not None
    fake_stripe.clear_requests()
    fake_stripe.kill(child.pid, request_number, when)
    send.send("go")
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    return [request["path"] for request in fake_stripe.requests()]


def resume(engine: Engine, settings: Settings) -> None:
    # The dead worker's lease holds until it expires (5 minutes), then another resumes.
    assert sync_due(engine, settings, now=NOW + timedelta(minutes=4)).results == []
    report = sync_due(engine, settings, now=NOW + timedelta(minutes=6))
    assert [result.outcome for result in report.results] == ["done"]


def assert_one_stripe_invoice(
    engine: Engine, fake_stripe: FakeStripe, invoice_id: str, stripe_customer: str
) -> None:
    invoice = invoice_row(engine, invoice_id)
    client = fake_stripe.client()
    listed = client.v1.invoices.list({"customer": stripe_customer, "limit": 100}).data
    assert [remote.id for remote in listed] == [invoice.stripe_invoice_id]
    remote = listed[0]
    lines = line_rows(engine, invoice_id)
    assert [
        (item.invoice_item, item.amount, item.metadata["metering_line_id"])
        for item in remote.lines.data
    ] == [
        (item, int(line.amount * 100), line.id)
        for item, line in zip(stripe_items(engine, lines), lines, strict=True)
    ]
    assert remote.total == int(invoice.total * 100)
    pending = client.v1.invoice_items.list({"customer": stripe_customer}).data
    assert pending == []  # no stray item made twice outside the invoice


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("request_number", range(1, 8))
def test_charge_automatically_killed_at_each_request(
    engine: Engine,
    database_url: str,
    settings: Settings,
    fake_stripe: FakeStripe,
    request_number: int,
    when: str,
) -> None:
    card = fake_stripe.customer_with_card()
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), THREE_LINES)

    seen = sync_killed_at(fake_stripe, database_url, request_number, when)

    assert len(seen) == request_number  # customer, invoice, 3 items, finalize, pay
    resume(engine, settings)
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.sync_error) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        None,
    )
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)
    payments = fake_stripe.client().v1.payment_intents.list({"limit": 100}).data
    assert [payment.amount for payment in payments] == [4301]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("request_number", range(1, 7))
def test_send_invoice_killed_at_each_request(
    engine: Engine,
    database_url: str,
    settings: Settings,
    fake_stripe: FakeStripe,
    request_number: int,
    when: str,
) -> None:
    billed = billing(engine, collection_method="send_invoice")
    invoice_id = issued_invoice(engine, billed, ["12.00", "-2.00"])

    seen = sync_killed_at(fake_stripe, database_url, request_number, when)

    assert len(seen) == request_number  # customer, invoice, 2 items, finalize, send
    resume(engine, settings)
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at) == (
        InvoiceStatus.ISSUED,
        SyncState.FINALIZED,
        None,
    )
    stripe_customer = stripe_customer_of(engine, billed.customer_id) or ""
    created = fake_stripe.client().v1.customers.list({"limit": 100}).data
    assert [customer.id for customer in created] == [stripe_customer]  # made once
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, stripe_customer)
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert remote.status == "open"


def test_invoice_made_before_a_long_outage_is_found_not_made_again(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """The worker created the Stripe invoice, lost the answer, and none ran for two days:
    Stripe no longer knows the idempotency key, so the sync looks for the invoice first."""
    card = fake_stripe.customer_with_card()
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), THREE_LINES)
    fake_stripe.fault(500, path="/v1/invoiceitems")
    sync_due(engine, settings, now=NOW)
    made = invoice_row(engine, invoice_id).stripe_invoice_id
    update_payment_link(  # as if the commit of the invoice step never happened
        engine,
        invoice_id,
        external_id=None,
        step=SyncState.CUSTOMER_SYNCED.value,
        updated_at=NOW,
        next_attempt_at=NOW,
    )
    fake_stripe.forget_idempotency_keys()

    sync_due(engine, settings, now=NOW + timedelta(days=2))

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.stripe_invoice_id) == (InvoiceStatus.PAID, made)
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)
