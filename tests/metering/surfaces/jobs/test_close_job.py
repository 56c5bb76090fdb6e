"""The jobs, run by the scheduler: invoices issued for every due period, then paid in Stripe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.catalog.customers.models import Customer
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.surfaces.jobs import running_jobs
from tests.metering.providers.stripe.factory import invoice_row, link_stripe_customer
from tests.metering.surfaces.jobs.billing import invoice_count, invoices_by_period, seed_billing
from tests.metering.surfaces.jobs.conftest import wait_for
from tests.stripe_fake.harness import API_KEY, FakeStripe, running_fake_stripe


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


def test_the_scheduler_closes_every_due_period(engine: Engine, database_url: str) -> None:
    billing = seed_billing(engine, customers=3, conversations=2)
    due = billing.due_periods(utcnow())
    expected = len(billing.customer_ids) * len(due)
    settings = Settings(
        database_url=database_url,
        jobs_close_interval=timedelta(seconds=1),
        jobs_sync_interval=timedelta(hours=1),
    )
    with running_jobs(settings):
        wait_for(lambda: invoice_count(engine) >= expected, 30, f"{expected} invoices")
    invoices = invoices_by_period(engine)
    assert sorted(invoices) == sorted(
        (customer, period.start) for customer in billing.customer_ids for period in due
    )
    for (_customer, start), (invoice,) in invoices.items():
        period = next(period for period in due if period.start == start)
        assert invoice.status == InvoiceStatus.ISSUED
        assert invoice.total == billing.total_of(period)
    assert sorted(invoice.number for (invoice,) in invoices.values()) == list(
        range(1, expected + 1)
    )


def test_the_scheduler_syncs_the_invoices_it_issued_to_stripe(
    engine: Engine, database_url: str, fake_stripe: FakeStripe
) -> None:
    billing = seed_billing(engine, customers=2, conversations=3)
    with Session(engine) as session:
        customer_ids = list(session.scalars(sa.select(col(Customer.id))))
    for customer_id in customer_ids:
        link_stripe_customer(engine, customer_id, fake_stripe.customer_with_card())
    expected = len(billing.customer_ids) * len(billing.due_periods(utcnow()))
    settings = Settings(
        database_url=database_url,
        stripe_api_key=API_KEY,
        stripe_api_base=fake_stripe.url,
        jobs_close_interval=timedelta(seconds=1),
        jobs_sync_interval=timedelta(seconds=1),
    )

    def paid() -> int:
        query = sa.select(sa.func.count()).where(col(Invoice.status) == InvoiceStatus.PAID)
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    with running_jobs(settings):
        wait_for(lambda: paid() >= expected, 30, f"{expected} paid invoices")
    stripe = fake_stripe.client()
    with Session(engine) as session:
        invoice_ids = list(session.scalars(sa.select(col(Invoice.id))))
    for invoice_id in invoice_ids:
        invoice = invoice_row(engine, invoice_id)
        assert invoice.sync_state == SyncState.PAID
        remote = stripe.v1.invoices.retrieve(invoice.stripe_invoice_id or "")
        assert (remote.status, remote.total) == ("paid", int(invoice.total * 100))
        assert remote.metadata["metering_invoice_id"] == invoice.id
