"""A void invoice is voided in Stripe too: never made there, a draft there, or open there."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import stripe
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.settings import Settings
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import update_payment_link
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice
from tests.stripe_fake.harness import FakeStripe

LATER = NOW + timedelta(hours=2)


def void(engine: Engine, invoice_id: str, now: datetime) -> None:
    """What voiding through the API does."""
    with Session(engine) as session:
        assert lifecycle.void(session, invoice_id, now)
        session.commit()


def test_void_before_any_sync_calls_nothing(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00"])
    void(engine, invoice_id, NOW)
    fake_stripe.clear_requests()

    report = sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert [r.outcome for r in report.results] == ["done"]
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at) == (
        InvoiceStatus.VOID,
        SyncState.VOID,
        None,
    )
    assert fake_stripe.requests() == []


def test_void_of_a_draft_in_stripe_deletes_the_draft(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00", "1.00"])
    fake_stripe.fault(500, path="/v1/invoiceitems")
    sync_due(engine, settings, now=NOW)
    draft = invoice_row(engine, invoice_id)
    assert draft.sync_state == SyncState.INVOICE_CREATED
    void(engine, invoice_id, LATER)

    sync_due(engine, settings, now=LATER)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.sync_state, invoice.sync_error) == (SyncState.VOID, None)
    with pytest.raises(stripe.InvalidRequestError, match="Not Found"):
        fake_stripe.client().v1.invoices.retrieve(draft.stripe_invoice_id or "")


def test_void_of_an_open_invoice_voids_it_in_stripe(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, collection_method="send_invoice")
    invoice_id = issued_invoice(engine, billed, ["5.00"])
    sync_due(engine, settings, now=NOW)
    assert invoice_row(engine, invoice_id).sync_state == SyncState.FINALIZED
    void(engine, invoice_id, LATER)
    fake_stripe.clear_requests()

    sync_due(engine, settings, now=LATER)
    requests = fake_stripe.requests()

    invoice = invoice_row(engine, invoice_id)
    assert invoice.sync_state == SyncState.VOID
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert remote.status == "void"
    assert [r["idempotency_key"] for r in requests] == [f"metering:invoice:{invoice_id}:void:r0"]


def test_void_finds_a_stripe_invoice_whose_id_was_never_stored(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    """The invoice was created in Stripe but the worker died before storing its id."""
    invoice_id = issued_invoice(engine, billing(engine), ["5.00"])
    fake_stripe.fault(500, path="/v1/invoiceitems")
    sync_due(engine, settings, now=NOW)
    created = invoice_row(engine, invoice_id).stripe_invoice_id
    update_payment_link(engine, invoice_id, external_id=None, step=SyncState.CUSTOMER_SYNCED.value)
    void(engine, invoice_id, LATER)

    sync_due(engine, settings, now=LATER)

    assert invoice_row(engine, invoice_id).sync_state == SyncState.VOID
    with pytest.raises(stripe.InvalidRequestError, match="Not Found"):
        fake_stripe.client().v1.invoices.retrieve(created or "")


def test_void_of_an_invoice_paid_in_stripe_is_a_permanent_error(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, collection_method="send_invoice")
    invoice_id = issued_invoice(engine, billed, ["5.00"])
    sync_due(engine, settings, now=NOW)
    stripe_id = invoice_row(engine, invoice_id).stripe_invoice_id or ""
    fake_stripe.client().v1.invoices.pay(stripe_id, {"paid_out_of_band": True})
    void(engine, invoice_id, LATER)

    sync_due(engine, settings, now=LATER)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.sync_state == SyncState.FINALIZED
    assert invoice.sync_error == (
        f"Stripe invoice {stripe_id} is paid and cannot be voided; refund it in Stripe"
    )
