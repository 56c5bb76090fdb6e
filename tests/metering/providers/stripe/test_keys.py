"""Idempotency keys as Stripe really treats them: every answer, 500s included, is replayed
for 24 hours under its key, so a retry after a definite answer is a new request (a new key),
a retry after a lost answer asks again under the same key, and nothing is made twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.billing.invoices.helpers import payment_link
from tests.metering.providers.stripe.crashes import assert_one_stripe_invoice
from tests.metering.providers.stripe.factory import (
    NOW,
    billing,
    invoice_row,
    issued_invoice,
    stripe_customer_of,
)
from tests.stripe_fake.harness import FakeStripe

THREE_LINES = ["41.58", "-1.98", "3.41"]


def keyed(fake: FakeStripe, ending: str) -> list[tuple[str, int, bool]]:
    """(key, status, replayed) of the requests whose path ends with `ending`."""
    return [
        (r["idempotency_key"], r["status"], r["replayed"])
        for r in fake.requests()
        if r["path"].endswith(ending) and r["method"] == "POST"
    ]


def payments(fake: FakeStripe) -> list[tuple[int, str]]:
    """(amount, status) of every Stripe payment attempt."""
    listed = fake.client().v1.payment_intents.list({"limit": 100}).data
    return sorted((intent.amount, intent.status) for intent in listed)


def test_a_500_on_finalize_is_retried_as_a_new_request_and_paid(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    card = fake_stripe.customer_with_card()
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), THREE_LINES)
    fake_stripe.fault(500, path="/v1/invoices/", method="POST")  # the first: finalize

    first = sync_due(engine, settings, now=NOW)

    failed = invoice_row(engine, invoice_id)
    assert [r.outcome for r in first.results] == ["retry"]
    assert (failed.sync_state, failed.sync_error) == (
        SyncState.ITEMS_CREATED,
        "Stripe APIError (HTTP 500): Injected by the test harness",
    )
    assert payment_link(engine, invoice_id).key_round == 1
    # Stripe keeps that 500 under the first key: asking again with it gets the 500 back.
    (first_key, _, _) = keyed(fake_stripe, "/finalize")[0]
    replay = fake_stripe.http.post(
        f"{fake_stripe.url}/v1/invoices/{failed.stripe_invoice_id}/finalize",
        data={"auto_advance": "false"},
        headers={"Authorization": "Bearer sk_test_metering_harness", "Idempotency-Key": first_key},
    )
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (500, "true")

    sync_due(engine, settings, now=failed.next_sync_at)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.sync_error) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        None,
    )
    assert keyed(fake_stripe, "/finalize") == [
        (f"metering:invoice:{invoice_id}:finalize:r0", 500, False),
        (f"metering:invoice:{invoice_id}:finalize:r0", 500, True),  # the replay above
        (f"metering:invoice:{invoice_id}:finalize:r1", 200, False),
    ]
    assert keyed(fake_stripe, "/pay") == [(f"metering:invoice:{invoice_id}:pay:r1", 200, False)]
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)
    assert payments(fake_stripe) == [(4301, "succeeded")]


def test_a_timeout_after_stripe_made_the_invoice_leaves_exactly_one(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """Stripe made the invoice; its answer came after the client gave up. The retry asks
    again under the same key and gets the answer Stripe kept."""
    impatient = settings.model_copy(update={"stripe_timeout_seconds": 0.5})
    card = fake_stripe.customer_with_card()
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), THREE_LINES)
    fake_stripe.lose_answers(2.0, path="/v1/invoices", method="POST")  # the first: create

    first = sync_due(engine, impatient, now=NOW)

    lost = invoice_row(engine, invoice_id)
    assert [r.outcome for r in first.results] == ["retry"]
    assert lost.sync_state == SyncState.CUSTOMER_SYNCED
    assert (lost.sync_error or "").startswith("Stripe APIConnectionError")
    assert payment_link(engine, invoice_id).key_round == 0  # no answer: the same key again
    made = fake_stripe.client().v1.invoices.list({"customer": card}).data
    assert len(made) == 1  # Stripe did make it

    sync_due(engine, impatient, now=lost.next_sync_at)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.stripe_invoice_id) == (InvoiceStatus.PAID, made[0].id)
    key = f"metering:invoice:{invoice_id}:create:r0"
    assert [(k, replayed) for k, _, replayed in keyed(fake_stripe, "/v1/invoices")] == [
        (key, False),
        (key, True),
    ]
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)
    assert payments(fake_stripe) == [(4301, "succeeded")]


def test_an_item_lost_in_a_timeout_is_made_once(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    impatient = settings.model_copy(update={"stripe_timeout_seconds": 0.5})
    card = fake_stripe.customer_with_card()
    invoice_id = issued_invoice(engine, billing(engine, stripe_customer_id=card), THREE_LINES)
    fake_stripe.lose_answers(2.0, path="/v1/invoiceitems")

    sync_due(engine, impatient, now=NOW)
    sync_due(engine, impatient, now=invoice_row(engine, invoice_id).next_sync_at)

    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, card)


def test_a_500_after_stripe_made_the_invoice_finds_it_instead_of_making_another(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """A 500 says nothing about whether Stripe made the object: the next attempt, under a
    new key, looks for it by our metadata first."""
    # No Stripe customer yet: it is made, then answered with a 500 (sent, not charged).
    billed = billing(engine, collection_method="send_invoice")
    invoice_id = issued_invoice(engine, billed, THREE_LINES)
    fake_stripe.fault(500, path="/v1/customers", carry_out=True)
    fake_stripe.fault(500, path="/v1/invoices", carry_out=True)
    fake_stripe.fault(500, path="/v1/invoiceitems", carry_out=True)

    for attempt in range(4):
        report = sync_due(engine, settings, now=NOW + timedelta(hours=attempt))
        assert [r.outcome for r in report.results] == ["retry" if attempt < 3 else "done"]
    requests = fake_stripe.requests()

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state) == (InvoiceStatus.ISSUED, SyncState.FINALIZED)
    assert payment_link(engine, invoice_id).key_round == 3
    stripe_customer = stripe_customer_of(engine, billed.customer_id)
    created = fake_stripe.client().v1.customers.list({"limit": 100}).data
    assert [customer.id for customer in created] == [stripe_customer]  # found, not made again
    assert_one_stripe_invoice(engine, fake_stripe, invoice_id, stripe_customer or "")
    # The lookups: the customer once (then it is linked), the invoice after each 500 until
    # found, and only the line whose item may exist (the first without one), twice.
    lookups = [r["path"] for r in requests if r["method"] == "GET"]
    assert lookups == [
        "/v1/customers/search",
        "/v1/invoices",
        "/v1/invoices",
        "/v1/invoiceitems",
        "/v1/invoiceitems",
    ]
    items = [r for r in requests if r["path"] == "/v1/invoiceitems"]
    assert [r["method"] for r in items].count("POST") == len(line_rows(engine, invoice_id))


def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    fake_stripe: FakeStripe,
) -> None:
    """The fake refuses a key reused for another request, as Stripe does."""
    headers = {"Authorization": "Bearer sk_test_metering_harness", "Idempotency-Key": "k-1"}
    url = f"{fake_stripe.url}/v1/customers"

    first = fake_stripe.http.post(url, data={"name": "Acme"}, headers=headers)
    again = fake_stripe.http.post(url, data={"name": "Acme"}, headers=headers)
    other = fake_stripe.http.post(url, data={"name": "Globex"}, headers=headers)
    fake_stripe.forget_idempotency_keys()  # 24 hours later
    later = fake_stripe.http.post(url, data={"name": "Globex"}, headers=headers)

    assert (first.status_code, again.status_code, again.json()["id"]) == (
        200,
        200,
        first.json()["id"],
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert later.status_code == 200 and later.json()["id"] != first.json()["id"]


def test_a_rate_limit_is_not_kept_under_the_key(fake_stripe: FakeStripe) -> None:
    """Stripe keeps no answer for a request it did not run (429, 409)."""
    headers = {"Authorization": "Bearer sk_test_metering_harness", "Idempotency-Key": "k-2"}
    fake_stripe.fault(429, path="/v1/customers")

    limited = fake_stripe.http.post(
        f"{fake_stripe.url}/v1/customers", data={"name": "A"}, headers=headers
    )
    again = fake_stripe.http.post(
        f"{fake_stripe.url}/v1/customers", data={"name": "A"}, headers=headers
    )

    assert (limited.status_code, again.status_code) == (429, 200)
    assert "Idempotent-Replayed" not in again.headers
