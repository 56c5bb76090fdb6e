"""Failed payments through Stripe: the reason in plain words, retries on the vendor's
schedule (each a new request), `invoice.uncollectible` after the last, and an immediate
retry when the payment method is updated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.invoices.service import invoice_detail
from metering.billing.payments import dunning
from metering.billing.payments.models import SyncState
from metering.catalog.vendors.models import Vendor
from metering.platform.settings import Settings
from metering.providers.stripe.endpoints import store_event
from metering.providers.stripe.webhook import event_of
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import payment_link
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries, payload
from tests.metering.providers.stripe.factory import (
    NOW,
    Billing,
    billing,
    invoice_row,
    issued_invoice,
)
from tests.stripe_fake.harness import FakeStripe

EVENTS = ["invoice.payment_failed", "invoice.uncollectible", "invoice.paid"]
DECLINED = "Stripe CardError (HTTP 402) [card_declined]: Your card was declined."


def announced(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every outbound invoice event, in order."""
    return [(payload(d)["type"], payload(d)["data"]) for d in deliveries(engine)]


def pay_requests(fake: FakeStripe) -> list[tuple[str, int]]:
    return [
        (r["idempotency_key"], r["status"]) for r in fake.requests() if r["path"].endswith("/pay")
    ]


def declining(engine: Engine, fake: FakeStripe) -> tuple[Billing, str, str]:
    """A customer whose card is declined, its 12.34 usd invoice, its Stripe customer."""
    card = fake.customer_with_card("pm_card_chargeCustomerFail")
    billed = billing(engine, stripe_customer_id=card)
    add_endpoint(engine, billed.vendor_id, "https://vendor.test/hooks", EVENTS)
    return billed, issued_invoice(engine, billed, ["12.34"]), card


def set_schedule(engine: Engine, vendor_id: str, days: list[int] | None) -> None:
    with Session(engine) as session:
        vendor = session.get(Vendor, vendor_id)
        assert vendor is not None
        vendor.payment_retry_days = days
        session.add(vendor)
        session.commit()


def test_a_decline_is_retried_on_schedule_then_uncollectible(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    _, invoice_id, card = declining(engine, fake_stripe)

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.sync_error) == (
        InvoiceStatus.PAYMENT_FAILED,
        SyncState.FAILED,
        DECLINED,
    )
    assert invoice.next_sync_at == NOW + timedelta(days=3)
    link = payment_link(engine, invoice_id)
    assert (link.decline_code, link.failed_payments, link.first_failed_at) == (
        "card_declined",
        1,
        NOW,
    )
    ((kind, data),) = announced(engine)
    assert kind == "invoice.payment_failed"
    assert (data["status"], data["error"]) == ("payment_failed", DECLINED)
    assert data["payment_error"] == {
        "code": "card_declined",
        "message": "The card was declined.",
        "failed_payments": 1,
        "first_failed_at": "2026-11-04T01:00:00Z",
        "next_retry_at": "2026-11-07T01:00:00Z",
        "uncollectible_at": None,
    }
    # Nothing happens before the first retry is due.
    just_before = NOW + timedelta(days=3) - timedelta(seconds=1)
    assert sync_due(engine, settings, now=just_before).results == []

    for day, next_retry in ((3, 5), (5, 7), (7, None)):
        report = sync_due(engine, settings, now=NOW + timedelta(days=day))
        assert [r.outcome for r in report.results] == ["done"]
        invoice = invoice_row(engine, invoice_id)
        assert invoice.status == InvoiceStatus.PAYMENT_FAILED
        expected = None if next_retry is None else NOW + timedelta(days=next_retry)
        assert invoice.next_sync_at == expected

    key = f"metering:invoice:{invoice_id}:pay"
    assert pay_requests(fake_stripe) == [(f"{key}:r{n}", 402) for n in range(4)]  # each new
    link = payment_link(engine, invoice_id)
    assert (link.failed_payments, link.uncollectible_at) == (4, NOW + timedelta(days=7))
    kinds = [kind for kind, _ in announced(engine)]
    assert kinds == ["invoice.payment_failed", "invoice.uncollectible"]  # each once
    uncollectible = announced(engine)[1][1]
    assert uncollectible["payment_error"]["failed_payments"] == 4
    assert uncollectible["payment_error"]["next_retry_at"] is None
    assert uncollectible["payment_error"]["uncollectible_at"] == "2026-11-11T01:00:00Z"
    assert sync_due(engine, settings, now=NOW + timedelta(days=30)).results == []
    assert len(fake_stripe.client().v1.invoices.list({"customer": card}).data) == 1


def test_the_vendors_schedule_and_none_once_paid(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed, invoice_id, card = declining(engine, fake_stripe)
    set_schedule(engine, billed.vendor_id, [1, 2])

    sync_due(engine, settings, now=NOW)
    assert invoice_row(engine, invoice_id).next_sync_at == NOW + timedelta(days=1)
    sync_due(engine, settings, now=NOW + timedelta(days=1))
    assert invoice_row(engine, invoice_id).next_sync_at == NOW + timedelta(days=2)
    fake_stripe.set_default_card(card)  # fixed in Stripe, without telling us

    sync_due(engine, settings, now=NOW + timedelta(days=2))

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        None,
    )
    assert [kind for kind, _ in announced(engine)] == ["invoice.payment_failed", "invoice.paid"]
    assert sync_due(engine, settings, now=NOW + timedelta(days=30)).results == []


def test_no_retry_schedule_makes_the_first_failure_uncollectible(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed, invoice_id, _ = declining(engine, fake_stripe)
    set_schedule(engine, billed.vendor_id, [])

    sync_due(engine, settings, now=NOW)

    assert invoice_row(engine, invoice_id).next_sync_at is None
    assert [kind for kind, _ in announced(engine)] == [
        "invoice.payment_failed",
        "invoice.uncollectible",
    ]


def test_a_void_invoice_is_never_retried(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    _, invoice_id, card = declining(engine, fake_stripe)
    sync_due(engine, settings, now=NOW)
    with Session(engine) as session:
        assert lifecycle.void(session, invoice_id, NOW + timedelta(days=1))
        session.commit()

    sync_due(engine, settings, now=NOW + timedelta(days=1))
    fake_stripe.clear_requests()
    assert sync_due(engine, settings, now=NOW + timedelta(days=3)).results == []

    assert fake_stripe.requests() == []
    assert invoice_row(engine, invoice_id).sync_state == SyncState.VOID
    remote = fake_stripe.client().v1.invoices.list({"customer": card}).data
    assert [invoice.status for invoice in remote] == ["void"]


def test_retry_now_after_a_new_card_pays_at_once(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """What the payment-method webhook does: the customer's failed invoices are due now."""
    billed, invoice_id, card = declining(engine, fake_stripe)
    other = issued_invoice(engine, billed, ["5.00"], number=2, period_start=NOW)  # still due
    sync_due(engine, settings, now=NOW)
    assert invoice_row(engine, other).status == InvoiceStatus.PAYMENT_FAILED
    fake_stripe.set_default_card(card)
    later = NOW + timedelta(hours=5)
    fake_stripe.clear_requests()

    with Session(engine) as session:
        due = dunning.retry_now(session, customer_id=billed.customer_id, now=later)
        session.commit()
    assert sorted(due) == sorted([invoice_id, other])
    assert invoice_row(engine, invoice_id).next_sync_at == later

    sync_due(engine, settings, now=later)

    assert [invoice_row(engine, i).status for i in (invoice_id, other)] == [InvoiceStatus.PAID] * 2
    assert sorted(pay_requests(fake_stripe)) == sorted(
        [(f"metering:invoice:{i}:pay:r1", 200) for i in (invoice_id, other)]
    )
    intents = fake_stripe.client().v1.payment_intents.list({"limit": 100}).data
    assert sorted((i.amount, i.status) for i in intents if i.status == "succeeded") == [
        (500, "succeeded"),
        (1234, "succeeded"),
    ]
    with Session(engine) as session:  # nothing left to retry
        assert dunning.retry_now(session, customer_id=billed.customer_id, now=later) == []


def test_retry_now_after_the_schedule_ran_out_still_retries_and_announces_nothing_again(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed, invoice_id, _ = declining(engine, fake_stripe)
    set_schedule(engine, billed.vendor_id, [])
    sync_due(engine, settings, now=NOW)
    with Session(engine) as session:
        assert dunning.retry_now(session, invoice_id=invoice_id, now=NOW + timedelta(days=9))
        session.commit()

    sync_due(engine, settings, now=NOW + timedelta(days=9))  # declined again

    link = payment_link(engine, invoice_id)
    assert (link.failed_payments, link.uncollectible_at, link.next_attempt_at) == (2, NOW, None)
    assert [kind for kind, _ in announced(engine)] == [
        "invoice.payment_failed",
        "invoice.uncollectible",
    ]


def test_retry_now_needs_a_customer_or_an_invoice(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="customer_id or"):
        dunning.retry_now(session)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
            "insufficient_funds",
            "The card has insufficient funds.",
        ),
        (
            {"type": "card_error", "code": "expired_card", "message": "Your card has expired."},
            "expired_card",
            "The card has expired.",
        ),
        (
            {
                "type": "card_error",
                "code": "incorrect_cvc",
                "message": "Your card's security code is incorrect.",
            },
            "payment_failed",
            "Stripe CardError (HTTP 402) [incorrect_cvc]: Your card's security code is incorrect.",
        ),
    ],
)
def test_stripes_decline_reasons_in_plain_words(
    engine: Engine,
    settings: Settings,
    fake_stripe: FakeStripe,
    error: dict[str, str],
    code: str,
    message: str,
) -> None:
    card = fake_stripe.customer_with_card()
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), ["8.00"])
    fake_stripe.fault(402, path="/v1/invoices/", suffix="/pay", error=error)

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.PAYMENT_FAILED
    assert payment_link(engine, invoice_id).decline_code == code
    with Session(engine) as session:
        shown = invoice_detail(session, session.get_one(Invoice, invoice_id))
    assert shown.payment_error is not None
    assert (shown.payment_error.code, shown.payment_error.message) == (code, message)


def test_a_customer_without_a_payment_method_then_a_card(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """Stripe refuses to pay (400, no default payment method): that is a failed payment,
    not a sync error; once a card is attached the retry pays."""
    bare = fake_stripe.client().v1.customers.create({"name": "Bare"}).id
    billed = billing(engine, stripe_customer_id=bare)
    invoice_id = issued_invoice(engine, billed, ["20.00"])

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at) == (
        InvoiceStatus.PAYMENT_FAILED,
        SyncState.FAILED,
        NOW + timedelta(days=3),
    )
    assert (invoice.sync_error or "").startswith(
        "Stripe InvalidRequestError (HTTP 400): This customer has no attached payment source"
    )
    with Session(engine) as session:
        shown = invoice_detail(session, session.get_one(Invoice, invoice_id))
    assert shown.payment_error is not None
    assert (shown.payment_error.code, shown.payment_error.message) == (
        "no_payment_method",
        "No payment method is on file for the customer.",
    )

    fake_stripe.set_default_card(bare)
    with Session(engine) as session:
        dunning.retry_now(session, customer_id=billed.customer_id, now=NOW + timedelta(hours=1))
        session.commit()
    sync_due(engine, settings, now=NOW + timedelta(hours=1))

    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID


def test_a_card_that_asks_for_authentication_is_a_failed_payment(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    card = fake_stripe.customer_with_card("pm_card_authenticationRequired")
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), ["9.99"])

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.PAYMENT_FAILED
    assert (invoice.sync_error or "").startswith(
        "Stripe CardError (HTTP 402) [invoice_payment_intent_requires_action]"
    )
    assert payment_link(engine, invoice_id).decline_code == "authentication_required"


def test_a_failure_stripe_reports_is_counted_once_whichever_comes_first(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """Stripe's `invoice.payment_failed` may reach us before or after the sync records the
    decline it is about: the invoice fails once, the decline is counted once."""
    _, invoice_id, _ = declining(engine, fake_stripe)
    fake_stripe.fault(500, path="/v1/invoices/", suffix="/pay")  # the sync's pay: no answer
    sync_due(engine, settings, now=NOW)
    stripe_id = invoice_row(engine, invoice_id).stripe_invoice_id
    reported = {"object": "invoice", "id": stripe_id, "attempt_count": 1}

    first = store_event(engine, event_of("evt_1", "invoice.payment_failed", reported))

    assert (first.applied, first.detail) == (True, "payment failed")
    link = payment_link(engine, invoice_id)
    assert (link.failed_payments, link.decline_code) == (0, "payment_failed")
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAYMENT_FAILED
    reported_at = link.first_failed_at
    assert reported_at is not None

    sync_due(engine, settings, now=invoice_row(engine, invoice_id).next_sync_at)  # declined
    late = [
        store_event(engine, event_of(e.id, e.type, e.data.object.to_dict()))
        for e in fake_stripe.client().v1.events.list({"type": "invoice.payment_failed"}).data
    ]

    assert [(o.applied, o.detail) for o in late] == [(False, "invoice is payment_failed")]
    link = payment_link(engine, invoice_id)
    assert (link.failed_payments, link.decline_code, link.first_failed_at) == (
        1,
        "card_declined",
        reported_at,
    )
    assert link.next_attempt_at == reported_at + timedelta(days=3)
    assert [kind for kind, _ in announced(engine)] == ["invoice.payment_failed"]
    assert announced(engine)[0][1]["payment_error"]["message"] == (
        "Stripe reported a failed payment (attempt 1)"
    )
