"""Two `metering worker` processes on one PostgreSQL database close each period once and
sync each invoice to Stripe once (the Stripe harness is a real localstripe process)."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.billing.payments.models import SyncState
from metering.platform.db.types import utcnow
from tests.metering.providers.stripe.factory import invoice_row, link_stripe_customer
from tests.metering.surfaces.jobs.billing import Billing, invoices_by_period, seed_billing
from tests.metering.surfaces.jobs.conftest import start_metering, wait_for
from tests.stripe_fake.harness import API_KEY, FakeStripe, running_fake_stripe

FAST = {"METERING_JOBS_CLOSE_INTERVAL": "PT1S", "METERING_JOBS_SYNC_INTERVAL": "PT1S"}
CLOSE_RUN = re.compile(r"close_due_periods: (\d+) invoices issued")
SKIPPED = re.compile(r"(\d+) left to another process")


@pytest.fixture(scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: SQLite has one writer, so two processes never close at once there."""
    name: str = request.param
    return name


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


def lock_waiters(engine: Engine) -> int:
    """Sessions of this database waiting for a lock."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def found(pattern: re.Pattern[str], log: Path) -> list[int]:
    return [int(number) for number in pattern.findall(log.read_text())]


def give_cards(engine: Engine, billing: Billing, fake: FakeStripe) -> None:
    """Each customer gets a Stripe customer with a card, so its invoices end up paid."""
    for customer_id in billing.customer_ids:
        link_stripe_customer(engine, customer_id, fake.customer_with_card())


def all_paid(engine: Engine, expected: int) -> bool:
    paid = sa.select(sa.func.count()).where(col(Invoice.status) == InvoiceStatus.PAID.value)
    with engine.connect() as connection:
        return int(connection.execute(paid).scalar_one()) >= expected


def test_two_workers_close_each_period_once_and_sync_each_invoice_once(
    engine: Engine, database_url: str, tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    billing = seed_billing(engine, customers=20, conversations=2)
    give_cards(engine, billing, fake_stripe)
    due = billing.due_periods(utcnow())
    expected = len(billing.customer_ids) * len(due)
    fake_stripe.clear_requests()
    env = {
        "METERING_DATABASE_URL": database_url,
        "METERING_STRIPE_API_KEY": API_KEY,
        "METERING_STRIPE_API_BASE": fake_stripe.url,
        **FAST,
    }
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    processes = []
    try:
        # Hold the subscriptions until both workers wait for them, so they close together.
        with engine.begin() as blocker:
            blocker.execute(sa.text("LOCK TABLE subscriptions IN EXCLUSIVE MODE"))
            processes = [start_metering(["worker"], env, log) for log in logs]
            wait_for(lambda: lock_waiters(engine) >= 2, 60, "both workers at the lock")
        wait_for(lambda: all_paid(engine, expected), 90, f"{expected} paid invoices")
        # Both keep running: two more rounds each must find nothing left to close.
        rounds = [len(found(CLOSE_RUN, log)) for log in logs]
        wait_for(
            lambda: all(
                len(found(CLOSE_RUN, log)) >= seen + 2
                for log, seen in zip(logs, rounds, strict=True)
            ),
            30,
            "two more close runs in each worker",
        )
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process, log in zip(processes, logs, strict=True):
            assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for log in logs:
        assert "raised an exception" not in log.read_text(), log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()

    # Closing: one invoice per customer and period, numbers without gaps.
    assert sum(sum(found(CLOSE_RUN, log)) for log in logs) == expected
    # The worker that got the lock second found the periods claimed or already closed.
    assert sum(sum(found(SKIPPED, log)) for log in logs) > 0
    invoices = invoices_by_period(engine)
    assert sorted(invoices) == sorted(
        (customer, period.start) for customer in billing.customer_ids for period in due
    )
    ours = [invoice for (invoice,) in invoices.values()]
    assert sorted(invoice.number or 0 for invoice in ours) == list(range(1, expected + 1))
    for invoice in ours:
        period = next(period for period in due if period.start == invoice.period_start)
        assert invoice.total == billing.total_of(period)
        state = invoice_row(engine, invoice.id)
        assert (state.status, state.sync_state) == (InvoiceStatus.PAID, SyncState.PAID)

    # Syncing: one Stripe invoice per invoice, created, finalized and paid once.
    remote = {
        stripe_invoice.metadata["metering_invoice_id"]: stripe_invoice
        for stripe_invoice in fake_stripe.client().v1.invoices.list(params={"limit": 100}).data
    }
    assert sorted(remote) == sorted(invoice.id for invoice in ours)
    for invoice in ours:
        stripe_invoice = remote[invoice.id]
        assert stripe_invoice.id == invoice_row(engine, invoice.id).stripe_invoice_id
        assert (stripe_invoice.status, stripe_invoice.total) == ("paid", int(invoice.total * 100))
    writes = Counter(
        re.sub(r"/in_\w+", "/ID", request["path"])
        for request in fake_stripe.requests()
        if request["method"] == "POST"
    )
    assert writes["/v1/invoices"] == expected
    assert writes["/v1/invoices/ID/finalize"] == expected
    # A zero invoice is paid when finalized: only the others are paid with the card.
    assert writes["/v1/invoices/ID/pay"] == sum(1 for invoice in ours if invoice.total)
