"""The Stripe sync against the harness: what ends up in Stripe and in our rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import stripe
from sqlalchemy.engine import Engine

from metering.billing.invoices.models import InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.settings import Settings
from metering.providers.stripe.client import STRIPE_API_VERSION
from metering.surfaces.providers import sync_due
from tests.metering.billing.invoices.helpers import lines as line_rows
from tests.metering.providers.stripe.factory import (
    FIVE_LINES,
    NOW,
    billing,
    invoice_row,
    issued_invoice,
    stripe_customer_of,
    stripe_items,
)
from tests.stripe_fake.harness import FakeStripe


def test_five_line_invoice_is_paid_in_stripe_with_the_same_lines(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    card_customer = fake_stripe.customer_with_card()
    billed = billing(engine, stripe_customer_id=card_customer)
    invoice_id = issued_invoice(engine, billed, FIVE_LINES)
    fake_stripe.clear_requests()

    report = sync_due(engine, settings, now=NOW)
    requests = fake_stripe.requests()

    assert [r.outcome for r in report.results] == ["done"]
    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.sync_state == SyncState.PAID
    assert invoice.sync_error is None
    assert invoice.next_sync_at is None
    assert invoice.sync_lease_owner is None
    assert invoice.paid_at is not None
    stripe = fake_stripe.client()
    remote = stripe.v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert remote.status == "paid"
    assert remote.total == 5900 == int(invoice.total * 100)  # 59.00 usd, credit included
    assert remote.customer == card_customer
    assert remote.metadata["metering_invoice_id"] == invoice_id
    assert remote.collection_method == "charge_automatically"
    assert remote.description == "Invoice 1 for 2026-10-01 to 2026-10-31"  # last day included
    assert invoice.stripe_hosted_url == remote.hosted_invoice_url
    items = [(i.amount, i.description, i.metadata["metering_line_id"]) for i in remote.lines.data]
    lines = line_rows(engine, invoice_id)
    assert items == [
        (4158, "Line 1", lines[0].id),
        (1500, "Line 2", lines[1].id),
        (99, "Line 3", lines[2].id),
        (-198, "Credit: Line 4", lines[3].id),
        (341, "Line 5", lines[4].id),
    ]
    assert stripe_items(engine, lines) == [i.invoice_item for i in remote.lines.data]
    # Stripe's period end is inclusive: the last second of the period, so Stripe shows
    # "Sep 1 - Sep 30" for the September credit (and "Oct 1 - Oct 31" for October).
    assert [(i.period.start, i.period.end) for i in remote.lines.data] == [
        (int(line.period_start.timestamp()), int(line.period_end.timestamp()) - 1) for line in lines
    ]
    assert datetime.fromtimestamp(remote.lines.data[3].period.end, UTC) == datetime(
        2026, 9, 30, 23, 59, 59, tzinfo=UTC
    )
    linked = stripe.v1.customers.retrieve(card_customer)
    assert linked.metadata["metering_customer_id"] == billed.customer_id
    assert linked.email == "billing@acme.test"
    # customer, invoice, 5 items, finalize, pay: every write with our own idempotency key.
    stripe_invoice = remote.id
    assert [r["path"] for r in requests] == [
        f"/v1/customers/{card_customer}",
        "/v1/invoices",
        *["/v1/invoiceitems"] * 5,
        f"/v1/invoices/{stripe_invoice}/finalize",
        f"/v1/invoices/{stripe_invoice}/pay",
    ]
    assert all(r["idempotency_key"].startswith("metering:") for r in requests)
    assert all(r["idempotency_key"].endswith(":r0") for r in requests)  # a first attempt
    assert len({r["idempotency_key"] for r in requests}) == 9
    # Every request asks for the API version the sync was written for.
    assert {r["stripe_version"] for r in requests} == {STRIPE_API_VERSION}


def test_nothing_happens_without_an_api_key(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine)
    invoice_id = issued_invoice(engine, billed, FIVE_LINES)
    fake_stripe.clear_requests()

    report = sync_due(engine, settings.model_copy(update={"stripe_api_key": None}), now=NOW)

    assert report.off == ["Stripe sync off (no stripe_api_key)"]
    assert str(report) == (
        "0 invoices synced (done 0, retry 0, error 0, lease_lost 0), 0 held elsewhere; "
        "Stripe sync off (no stripe_api_key)"
    )
    # The Stripe customer's invoice waits for Stripe (the manual provider leaves it alone).
    assert invoice_row(engine, invoice_id).sync_state == SyncState.NOT_STARTED
    assert invoice_row(engine, invoice_id).next_sync_at is not None
    assert fake_stripe.requests() == []


def test_send_invoice_is_sent_and_waits_for_the_webhook(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, collection_method="send_invoice", days_until_due=14)
    invoice_id = issued_invoice(engine, billed, ["12.50", "0.01"])

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.sync_state == SyncState.FINALIZED
    assert invoice.next_sync_at is None
    stripe_customer = stripe_customer_of(engine, billed.customer_id)
    assert stripe_customer is not None
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert (remote.status, remote.total, remote.collection_method) == ("open", 1251, "send_invoice")
    assert remote.days_until_due == 14
    assert remote.to_dict().get("sent_at") is not None
    created = fake_stripe.client().v1.customers.retrieve(stripe_customer)
    assert (created.name, created.email) == ("Acme Inc.", "billing@acme.test")
    assert created.metadata["external_id"] == "acme"
    # Synced again: nothing is due, nothing is sent twice.
    fake_stripe.clear_requests()
    assert sync_due(engine, settings, now=NOW + timedelta(hours=1)).results == []
    assert fake_stripe.requests() == []


def test_credit_above_the_charges_gives_a_negative_total_paid_at_once(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe
) -> None:
    billed = billing(engine, stripe_customer_id=fake_stripe.customer_with_card())
    invoice_id = issued_invoice(engine, billed, ["2.00", "-5.97"])
    fake_stripe.clear_requests()

    sync_due(engine, settings, now=NOW)

    invoice = invoice_row(engine, invoice_id)
    assert (invoice.status, invoice.sync_state, invoice.total) == (
        InvoiceStatus.PAID,
        SyncState.PAID,
        Decimal("-3.97"),
    )
    remote = fake_stripe.client().v1.invoices.retrieve(invoice.stripe_invoice_id or "")
    assert (remote.total, remote.amount_due, remote.status) == (-397, 0, "paid")
    assert not any(r["path"].endswith("/pay") for r in fake_stripe.requests())


def test_the_api_version_stays_pinned_when_the_package_moves_on(
    engine: Engine, settings: Settings, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer `stripe` package defaults to a newer API version; the sync keeps the one it
    was written for."""
    monkeypatch.setattr(stripe._api_version._ApiVersion, "CURRENT", "2099-01-01.later")
    billed = billing(engine, stripe_customer_id=fake_stripe.customer_with_card())
    issued_invoice(engine, billed, ["1.00"])
    fake_stripe.clear_requests()

    sync_due(engine, settings, now=NOW)

    assert {r["stripe_version"] for r in fake_stripe.requests()} == {STRIPE_API_VERSION}
    assert STRIPE_API_VERSION == "2026-10-28.endive"
