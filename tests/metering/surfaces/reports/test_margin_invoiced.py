"""An invoiced period reports its billed lines, with the credits later invoices made for it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.close import close_due
from metering.surfaces.reports.margin import CustomerMargin
from metering.surfaces.reports.service import margin_report
from tests.metering.billing.credits.helpers import grant
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import (
    CLOSED,
    NOVEMBER,
    REPORTED,
    RULES,
    at,
    month_of_conversations,
    reopen,
)

DECEMBER_CLOSED = datetime(2027, 1, 4, 1, tzinfo=UTC)


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    return create_customer(engine, vendor.id, "acme", plan, starts_at=NOVEMBER)


def november(engine: Engine, vendor: VendorFixture, as_of: datetime) -> CustomerMargin:
    with Session(engine) as session:
        (row,) = margin_report(session, vendor.id, "2026-11", as_of).customers
    return row


def test_closed_period_shows_its_invoice(engine: Engine, vendor: VendorFixture, acme: str) -> None:
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    live = november(engine, vendor, REPORTED)
    (issued,) = close_due(engine, CLOSED).invoices
    row = november(engine, vendor, CLOSED)
    assert (live.revenue_source, row.revenue_source) == ("live", "invoice")
    assert row.invoice_ids == [issued.id]
    assert row.outcomes["resolved_conversation"].revenue == Decimal("0.99")
    assert row.other_revenue == Decimal("20.00")
    assert row.margin == live.margin == Decimal("20.912")


def test_reversed_after_invoice_credits_revenue_and_unbills_its_cost(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    close_due(engine, CLOSED)
    reopened = datetime(2026, 12, 6, tzinfo=UTC)
    ingest_all(engine, vendor.id, [reopen("o-1", "c-1", at(5, month=12))], reopened)
    close_due(engine, DECEMBER_CLOSED)
    row = november(engine, vendor, DECEMBER_CLOSED)
    assert len(row.invoice_ids) == 2  # November's and December's (the credit line)
    resolved = row.outcomes["resolved_conversation"]
    assert (resolved.settled, resolved.revenue, resolved.cost) == (0, Decimal("0.00"), Decimal(0))
    assert row.unbilled_cost == Decimal("0.078")  # c-1's 0.021 joins c-2's and c-3's
    assert row.margin == Decimal("19.922")


def test_promotional_credits_are_a_discount_and_paid_credits_revenue_collected_in_advance(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    """20.99 billed: a 5.00 promotional grant pays first, then 10.00 of a paid grant."""
    grant(engine, acme, "5.00", NOVEMBER, category="promotional", priority=1, effective_at=NOVEMBER)
    grant(engine, acme, "10.00", NOVEMBER, category="paid", priority=2, effective_at=NOVEMBER)
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    (issued,) = close_due(engine, CLOSED).invoices
    assert issued.total == Decimal("5.99")

    row = november(engine, vendor, CLOSED)

    assert row.promotional_credits == Decimal("-5.00")
    assert row.prepaid_credits == Decimal("10.00")
    assert row.other_revenue == Decimal("20.00")
    assert row.revenue == Decimal("15.99")  # the discount only
    assert row.margin == Decimal("15.912")
    with Session(engine) as session:
        (totals,) = margin_report(session, vendor.id, "2026-11", CLOSED).totals
    assert (totals.promotional_credits, totals.prepaid_credits, totals.revenue) == (
        Decimal("-5.00"),
        Decimal("10.00"),
        Decimal("15.99"),
    )
