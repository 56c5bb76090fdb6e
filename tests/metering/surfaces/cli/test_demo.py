"""`make run`: the demo sets itself up idempotently and sends its events through the webhook."""

from __future__ import annotations

import hashlib
import re
import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from demo.seed import DEMO_CUSTOMERS, EXAMPLES, demo_events, demo_start, main, prepare
from metering.billing.invoices.models import Invoice, InvoiceLine
from metering.billing.payments.models import InvoicePaymentLink
from metering.catalog.customers.models import Customer
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.vendors.models import ApiKey, Vendor
from metering.ledger.events.models import StoredEvent
from metering.platform.jobs.runs import JobRuns, overdue_jobs


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_prepare_twice_makes_everything_once(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        first = prepare(session)
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        second = prepare(session)
        session.commit()
        assert (second.vendor_id, second.signing_secret) == (first.vendor_id, first.signing_secret)
        assert second.api_key != first.api_key
        assert _count(session, Vendor) == 1
        plans = len(list(EXAMPLES.glob("*.yaml")))  # every example plan, once
        assert plans == 4
        assert _count(session, Plan) == plans
        assert _count(session, PlanVersion) == plans
        hashes = set(session.exec(select(ApiKey.hash)).all())
        assert hashlib.sha256(second.api_key.encode()).hexdigest() in hashes
        statement = (
            select(Customer.external_id, Plan.slug, Subscription.starts_at)
            .join(Subscription, Subscription.customer_id == Customer.id)  # type: ignore[arg-type]
            .join(Plan, Plan.id == Subscription.plan_id)  # type: ignore[arg-type]
        )
        rows = session.exec(statement).all()
    assert {external_id: plan for external_id, plan, _ in rows} == {
        external_id: plan for external_id, _, plan in DEMO_CUSTOMERS
    }
    assert len(rows) == len(DEMO_CUSTOMERS)
    zones = {
        "support-agent": "UTC",
        "sales-agent": "America/New_York",
        "deal-value": "Europe/Paris",
    }
    for _, plan, starts_at in rows:
        assert starts_at.replace(tzinfo=UTC) == demo_start(date.today(), zones[plan])


def test_demo_subscriptions_start_two_months_back() -> None:
    assert demo_start(date(2026, 11, 28)).isoformat() == "2026-09-01T00:00:00+00:00"
    new_york = demo_start(date(2026, 11, 28), "America/New_York")
    assert new_york.isoformat() == "2026-09-01T04:00:00+00:00"
    assert demo_start(date(2026, 2, 1)).isoformat() == "2025-12-01T00:00:00+00:00"
    assert demo_start(date(2026, 1, 31)).isoformat() == "2025-11-01T00:00:00+00:00"


def test_demo_events_are_the_same_all_day_and_in_the_past() -> None:
    day = date(2026, 11, 28)
    events = demo_events(day)
    assert events == demo_events(day)
    assert len(events) == (4 * 80 + 5) + (4 * 40 + 5)
    assert len({event["id"] for event in events}) == len(events)
    assert max(event["timestamp"] for event in events) < "2026-11-28T00:00:00+00:00"
    recent = {e["id"] for e in events if e["timestamp"] >= "2026-11-22T00:00:00+00:00"}
    last_month = [e for e in events if e["timestamp"] < "2026-11-01T00:00:00+00:00"]
    assert len(last_month) == 4 * 40 + 5
    assert min(event["timestamp"] for event in last_month) >= "2026-10-01T00:00:00+00:00"
    next_day = {event["id"] for event in demo_events(date(2026, 11, 29))}
    # The recent events are new each day; last month's keep their ids all month.
    assert next_day.isdisjoint(recent)
    assert {event["id"] for event in last_month} <= next_day


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_demo_runs_twice_end_to_end(
    cli_database: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--once", "--port", str(_free_port())]) == 0
    first = capsys.readouterr().out
    assert main(["--once", "--port", str(_free_port())]) == 0
    second = capsys.readouterr().out
    assert "accepted 490, duplicates 0, rejected 0" in first
    assert "accepted 0, duplicates 490, rejected 0" in second
    assert re.search(r"closed [1-9]\d* periods: invoices issued", first)
    assert "closed 0 periods" in second
    for output in (first, second):
        assert re.search(r"API docs\s+http://127\.0\.0\.1:\d+/docs", output)
        assert re.search(r"API key\s+mk_live_\S+", output)
        assert re.search(r"signing secret\s+whsec_\S+", output)
    with Session(engine) as session:
        assert _count(session, StoredEvent) == 490
        assert _count(session, Invoice) > 0
        lines = session.exec(select(InvoiceLine)).all()
        assert any(line.outcome_ids for line in lines)  # last month's outcomes were billed
        stark = session.exec(select(Customer).where(Customer.external_id == "stark")).one()
        # Collected manually: the demo needs no Stripe key.
        providers = set(session.exec(select(InvoicePaymentLink.provider)).all())
        demo = session.exec(select(Customer).where(Customer.external_id != "stark")).all()
    assert stark.status == "unprovisioned"
    assert providers == {"manual"}
    assert {customer.payment_provider for customer in demo} == {"manual"}


def test_the_demo_starts_again_after_an_earlier_runs_jobs_stopped(
    cli_database: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """An earlier `make run` (or `metering serve`) ran the jobs and was stopped an hour ago:
    the database says they are overdue, which `/readyz` reports, and the demo, which starts
    the jobs only after sending its events, still starts."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    JobRuns(engine, {"deliver_webhooks": timedelta(seconds=5)}, long_ago).register()
    with engine.connect() as connection:
        assert overdue_jobs(connection, datetime.now(UTC))
    assert main(["--once", "--port", str(_free_port())]) == 0
    assert "accepted 490, duplicates 0, rejected 0" in capsys.readouterr().out
