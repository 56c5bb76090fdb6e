"""The manual provider: the vendor sends its invoices and records their payments; the sync
takes a manual invoice through the same steps as a Stripe one, and calls nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments import links
from metering.billing.payments.models import SyncState
from metering.billing.payments.protocol import WebhookRejected
from metering.billing.payments.received import record
from metering.billing.payments.schemas import PaymentCreate
from metering.platform.settings import Settings
from metering.providers.manual.provider import ManualProvider
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines, payment_link
from tests.metering.providers.stripe.factory import NOW, billing, invoice_row, issued_invoice

MANUAL = "manual"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)  # no Stripe key: manual is always there


def pay(engine: Engine, invoice_id: str, amount: str, reference: str) -> None:
    with Session(engine) as session:
        invoice = session.get_one(Invoice, invoice_id)
        data = PaymentCreate(amount=amount, paid_on=NOW.date(), reference=reference)
        record(session, invoice, data, NOW + timedelta(days=1))
        session.commit()


@pytest.mark.parametrize("method", ["charge_automatically", "send_invoice"])
def test_an_invoice_is_sent_then_paid_by_recorded_payments(
    engine: Engine, settings: Settings, method: str
) -> None:
    invoice_id = issued_invoice(
        engine, billing(engine, collection_method=method), ["30.00", "-5.00"], provider=MANUAL
    )

    report = sync_due(engine, settings, now=NOW)

    assert [r.outcome for r in report.results] == ["done"]
    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.next_sync_at, invoice.sync_error) == (
        InvoiceStatus.ISSUED,
        SyncState.FINALIZED,
        None,
        None,
    )
    link = payment_link(engine, invoice_id)
    assert (link.provider, link.external_id, link.hosted_url) == (MANUAL, invoice_id, None)
    assert sync_due(engine, settings, now=NOW + timedelta(days=30)).results == []

    pay(engine, invoice_id, "10.00", "TRX-1")
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.ISSUED
    pay(engine, invoice_id, "15.00", "TRX-2")
    assert invoice_row(engine, invoice_id).status == InvoiceStatus.PAID

    report = sync_due(engine, settings, now=NOW + timedelta(days=1))

    assert [r.outcome for r in report.results] == ["done"]
    assert invoice_row(engine, invoice_id).sync_state == SyncState.PAID
    assert invoice_row(engine, invoice_id).paid_at == NOW + timedelta(days=1)


def test_nothing_to_pay_is_paid_at_once_as_in_stripe(engine: Engine, settings: Settings) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["2.00", "-5.97"], provider=MANUAL)

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.total) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        Decimal("-3.97"),
    )


def test_a_void_invoice_is_void_and_the_items_are_our_lines(
    engine: Engine, settings: Settings
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00", "1.00"], provider=MANUAL)
    sync_due(engine, settings, now=NOW)
    with Session(engine) as session:
        assert lifecycle.void(session, invoice_id, NOW + timedelta(hours=1))
        session.commit()

    sync_due(engine, settings, now=NOW + timedelta(hours=1))

    assert invoice_row(engine, invoice_id).sync_state == SyncState.VOID
    line_ids = [line.id for line in lines(engine, invoice_id)]
    with Session(engine) as session:
        items = links.item_ids(session, line_ids)
    assert [items[line_id] for line_id in line_ids] == line_ids  # the "copy" is ours


def test_it_sends_no_webhooks() -> None:
    with pytest.raises(WebhookRejected, match="no webhooks"):
        ManualProvider().parse_webhook(b"{}", {})
