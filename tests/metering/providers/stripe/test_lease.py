"""Workers side by side: an invoice is synced by one worker at a time, and a worker whose
lease was taken over writes nothing more."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from metering.billing.payments import state
from metering.billing.payments.models import SyncState
from metering.billing.payments.steps import Run, ensure_customer
from metering.billing.payments.sync import SyncReport
from metering.platform.settings import Settings
from metering.providers.stripe.provider import StripeProvider
from metering.surfaces.providers import sync_due
from tests.metering.providers.stripe.factory import (
    NOW,
    STRIPE,
    billing,
    invoice_row,
    issued_invoice,
)
from tests.stripe_fake.harness import FakeStripe

LEASE = timedelta(minutes=5)


def test_one_claim_wins_until_the_lease_expires(engine: Engine, fake_stripe: FakeStripe) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["1.00"])

    assert state.claim(engine, invoice_id, STRIPE, "worker-a", NOW, LEASE)
    assert not state.claim(
        engine, invoice_id, STRIPE, "worker-b", NOW + timedelta(minutes=4), LEASE
    )
    assert state.due_ids(engine, STRIPE, NOW + timedelta(minutes=4), 10) == []
    assert state.claim(engine, invoice_id, STRIPE, "worker-b", NOW + timedelta(minutes=5), LEASE)
    assert invoice_row(engine, invoice_id).sync_lease_owner == "worker-b"


def test_a_worker_that_lost_its_lease_writes_nothing(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["1.00"])
    assert state.claim(engine, invoice_id, STRIPE, "worker-a", NOW, LEASE)
    assert state.claim(engine, invoice_id, STRIPE, "worker-b", NOW + LEASE, LEASE)  # too long
    stripe = StripeProvider.from_settings(settings)
    slow = Run(
        engine, stripe, "worker-a", NOW, LEASE, settings.sync_retry_base, settings.sync_retry_cap
    )

    with pytest.raises(state.LeaseLost):
        ensure_customer(slow, state.load(engine, invoice_id))

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.sync_state, invoice.sync_lease_owner) == (SyncState.NOT_STARTED, "worker-b")


def test_two_workers_at_once_sync_each_invoice_once(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, collection_method="send_invoice")
    invoice_ids = [
        issued_invoice(
            engine, billed, ["3.00", "-1.00"], number=n, period_start=NOW - timedelta(days=40 + n)
        )
        for n in range(1, 9)
    ]
    fake_stripe.clear_requests()
    reports: list[SyncReport] = []

    def work(owner: str) -> None:
        reports.append(sync_due(engine, settings, now=NOW, owner=owner))

    workers = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    synced = sorted(r.invoice_id for report in reports for r in report.results)
    assert synced == sorted(invoice_ids)
    assert all(r.outcome == "done" for report in reports for r in report.results)
    requests = fake_stripe.requests()
    creates = [r for r in requests if r["path"] == "/v1/invoices"]
    assert len(creates) == 8
    # No invoice was worked on twice. The customer is shared: the same create or update
    # (same parameters, same idempotency key) is answered from the first one.
    replayed = {r["path"] for r in requests if r["replayed"]}
    assert all(path.startswith("/v1/customers") for path in replayed)
    assert len(fake_stripe.client().v1.customers.list().data) == 1
    stripe_ids = {invoice_row(engine, invoice_id).stripe_invoice_id for invoice_id in invoice_ids}
    assert len(stripe_ids) == 8
