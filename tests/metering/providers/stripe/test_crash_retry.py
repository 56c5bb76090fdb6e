"""A worker SIGKILLed between any two steps of a payment and its retries: the next worker
finishes, with no second charge, no second invoice and each failure counted once.

Killed `before` a request, Stripe never saw it; killed `after`, Stripe carried it out and
kept its answer under the request's key, and our commit of it never happened: the next
worker asks again under the same key (nothing moved the key round on) and gets that
answer back.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments import dunning
from metering.billing.payments.models import SyncState
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import payment_link
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload
from tests.metering.providers.stripe.crashes import (
    assert_one_stripe_invoice,
    resume,
    sync_killed_at,
)
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice
from tests.stripe_fake.harness import FakeStripe

THREE_LINES = ["41.58", "-1.98", "3.41"]  # 43.01 usd
EVENTS = ["invoice.payment_failed", "invoice.uncollectible", "invoice.paid"]
RETRY_AT = NOW + timedelta(days=2)


def charges(fake: FakeStripe) -> list[tuple[int, str]]:
    """(amount, status) of every payment Stripe attempted, in cents."""
    intents = fake.client().v1.payment_intents.list({"limit": 100}).data
    return sorted((intent.amount, intent.status) for intent in intents)


def announced(engine: Engine) -> list[str]:
    return [payload(delivery)["type"] for delivery in deliveries(engine)]


def declined_once(engine: Engine, settings: Settings, fake: FakeStripe) -> tuple[str, str]:
    """An invoice whose first payment was declined; its id and Stripe customer."""
    card = fake.customer_with_card("pm_card_chargeCustomerFail")
    billed = billing(engine, stripe_customer_id=card)
    add_endpoint(engine, billed.vendor_id, "https://vendor.test/hooks", EVENTS)
    invoice_id = issued_invoice(engine, billed, THREE_LINES)
    sync_due(engine, settings, now=NOW)
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAYMENT_FAILED
    return invoice_id, card


def retry_now(engine: Engine, invoice_id: str) -> None:
    with Session(engine) as session:
        assert dunning.retry_now(session, invoice_id=invoice_id, now=RETRY_AT) == [invoice_id]
        session.commit()


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("request_number", [6, 7])  # finalize, the declined payment
def test_killed_around_a_declined_first_payment(
    engine: Engine,
    database_url: str,
    settings: Settings,
    fake_stripe: FakeStripe,
    request_number: int,
    when: str,
) -> None:
    card = fake_stripe.customer_with_card("pm_card_chargeCustomerFail")
    billed = billing(engine, stripe_customer_id=card)
    add_endpoint(engine, billed.vendor_id, "https://vendor.test/hooks", EVENTS)
    invoice_id = issued_invoice(engine, billed, THREE_LINES)

    seen = sync_killed_at(fake_stripe, database_url, request_number, when)

    assert len(seen) == request_number  # customer, invoice, 3 items, finalize, pay
    resume(engine, settings)
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state) == (InvoiceStatus.PAYMENT_FAILED, SyncState.FAILED)
    link = payment_link(engine, invoice_id)
    assert (link.failed_payments, link.key_round, link.decline_code) == (1, 1, "card_declined")
    assert charges(fake_stripe) == [(4301, "requires_payment_method")]  # one attempt
    assert announced(engine) == ["invoice.payment_failed"]
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_the_retry_after_a_new_card(
    engine: Engine, database_url: str, settings: Settings, fake_stripe: FakeStripe, when: str
) -> None:
    invoice_id, card = declined_once(engine, settings, fake_stripe)
    fake_stripe.set_default_card(card)
    retry_now(engine, invoice_id)

    seen = sync_killed_at(fake_stripe, database_url, 1, when, now=RETRY_AT)

    assert seen == [f"/v1/invoices/{invoice_row(engine, invoice_id).stripe_invoice_id}/pay"]
    resume(engine, settings, now=RETRY_AT)
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        None,
    )
    assert charges(fake_stripe) == [(4301, "requires_payment_method"), (4301, "succeeded")]
    assert announced(engine) == ["invoice.payment_failed", "invoice.paid"]
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)
    pays = [r for r in fake_stripe.requests() if r["path"].endswith("/pay")]
    assert {r["idempotency_key"] for r in pays} == {f"metering:invoice:{invoice_id}:pay:r1"}


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_a_scheduled_retry_that_is_declined_again(
    engine: Engine, database_url: str, settings: Settings, fake_stripe: FakeStripe, when: str
) -> None:
    invoice_id, card = declined_once(engine, settings, fake_stripe)
    retry_at = NOW + timedelta(days=3)

    sync_killed_at(fake_stripe, database_url, 1, when, now=retry_at)

    resume(engine, settings, now=retry_at)
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.next_sync_at) == (
        InvoiceStatus.PAYMENT_FAILED,
        NOW + timedelta(days=5),
    )
    link = payment_link(engine, invoice_id)
    assert (link.failed_payments, link.key_round) == (2, 2)  # the retry counted once
    assert charges(fake_stripe) == [(4301, "requires_payment_method")] * 2
    assert announced(engine) == ["invoice.payment_failed"]  # not announced again
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)
