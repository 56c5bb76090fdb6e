"""The close job, run by the scheduler, issues the invoices of every due period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from metering.db.types import utcnow
from metering.invoices.models import InvoiceStatus
from metering.jobs.scheduler import running_jobs
from metering.settings import Settings
from tests.metering.jobs.billing import invoice_count, invoices_by_period, seed_billing
from tests.metering.jobs.conftest import wait_for


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
