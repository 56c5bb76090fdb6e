"""A worker SIGKILLed at any point of the sync leaves work the next one finishes, with
exactly one Stripe invoice holding exactly our lines (`crashes` kills it: at the n-th
Stripe request, before Stripe carries it out or after)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import update_payment_link
from tests.metering.providers.stripe.crashes import (
    assert_one_stripe_invoice,
    resume,
    sync_killed_at,
)
from tests.metering.providers.stripe.factory import (
    NOW,
    billing,
    invoice_row,
    issued_invoice,
    stripe_customer_of,
)
from tests.stripe_fake.harness import FakeStripe

THREE_LINES = ["41.58", "-1.98", "3.41"]


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
