"""Two `metering worker` processes on one PostgreSQL database, customers whose grants are
smaller than their usage: no credit is drawn twice, and the Stripe copy of each invoice
carries its negative credits lines (the Stripe harness is a real localstripe process)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.credits.models import CreditEntry
from metering.billing.invoices import repository
from metering.platform.db.types import utcnow
from tests.metering.billing.credits.helpers import assert_ledger_right, grant, remaining
from tests.metering.providers.stripe.factory import invoice_row, link_stripe_customer
from tests.metering.surfaces.jobs.billing import invoices_by_period, seed_billing
from tests.metering.surfaces.jobs.conftest import start_metering, wait_for
from tests.metering.surfaces.jobs.test_two_workers import all_paid, lock_waiters
from tests.stripe_fake.harness import API_KEY, FakeStripe, running_fake_stripe

FAST = {"METERING_JOBS_CLOSE_INTERVAL": "PT1S", "METERING_JOBS_SYNC_INTERVAL": "PT1S"}


@pytest.fixture(scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: SQLite has one writer, so two processes never close at once there."""
    name: str = request.param
    return name


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


def test_two_workers_never_draw_a_credit_twice(
    engine: Engine, database_url: str, tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    # 5 conversations at 0.99 in each of two months: 4.95 a month per customer.
    billing = seed_billing(engine, customers=10, conversations=5)
    first, second = billing.periods
    grants = {}
    for customer_id in billing.customer_ids:
        link_stripe_customer(engine, customer_id, fake_stripe.customer_with_card())
        small = grant(
            engine,
            customer_id,
            "3.00",
            first.start,
            name="Small",
            priority=1,
            effective_at=first.start,
        )
        rest = grant(
            engine, customer_id, "4.00", first.start, name="Rest", effective_at=first.start
        )
        grants[customer_id] = (small, rest)
    expected = len(billing.customer_ids) * len(billing.due_periods(utcnow()))
    env = {
        "METERING_DATABASE_URL": database_url,
        "METERING_STRIPE_API_KEY": API_KEY,
        "METERING_STRIPE_API_BASE": fake_stripe.url,
        **FAST,
    }
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    processes = []
    try:
        with engine.begin() as blocker:  # both workers wait, then close together
            blocker.execute(sa.text("LOCK TABLE subscriptions IN EXCLUSIVE MODE"))
            processes = [start_metering(["worker"], env, log) for log in logs]
            wait_for(lambda: lock_waiters(engine) >= 2, 60, "both workers at the lock")
        wait_for(lambda: all_paid(engine, expected), 90, f"{expected} paid invoices")
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
        assert "Traceback" not in log.read_text(), log.read_text()

    invoices = invoices_by_period(engine)
    remote = fake_stripe.client().v1.invoices
    for customer_id, (small, rest) in grants.items():
        [october] = invoices[(customer_id, first.start)]
        [november] = invoices[(customer_id, second.start)]
        # 4.95: "Small" 3.00, "Rest" 1.95; then 4.95: "Rest" its last 2.05, 2.90 in money.
        assert (october.total, november.total) == (Decimal("0.00"), Decimal("2.90"))
        assert (remaining(engine, small), remaining(engine, rest)) == (Decimal(0), Decimal(0))
        with Session(engine) as session:
            drawn = session.exec(
                select(CreditEntry)
                .where(col(CreditEntry.customer_id) == customer_id, CreditEntry.kind == "drawdown")
                .order_by(col(CreditEntry.id))
            ).all()
            assert sorted((e.grant_id, e.amount) for e in drawn) == sorted(
                [(small, Decimal("-3.00")), (rest, Decimal("-1.95")), (rest, Decimal("-2.05"))]
            )
            ours = {
                invoice.id: [line.amount for line in repository.lines_of(session, invoice.id)]
                for invoice in (october, november)
            }
        for invoice in (october, november):
            stripe_id = invoice_row(engine, invoice.id).stripe_invoice_id
            assert stripe_id is not None
            copy = remote.retrieve(stripe_id)
            assert copy.total == int(invoice.total * 100)
            assert sorted(line.amount for line in copy.lines.data) == sorted(
                int(amount * 100) for amount in ours[invoice.id]
            )
    assert_ledger_right(engine)
