"""What the customer will pay, on the overview: the projection if every pending outcome
settles, the value of pending outcomes, the previous period like for like and its pending
outcomes, to the cent of what the close then invoices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import service as invoices
from metering.catalog.customers.models import Customer
from metering.surfaces.portal import overview
from tests.metering.billing.credits.helpers import grant
from tests.metering.billing.invoices.helpers import OCTOBER, RULES, at, close, resolution
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all

NO_MINIMUM = RULES.replace('minimum: "25.00"\n', "")


def nov(day: int, hour: int = 10) -> datetime:
    return at(day, hour, month=11)


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture) -> str:
    plan_id = create_plan(engine, vendor.id, NO_MINIMUM)
    return create_customer(engine, vendor.id, "acme", plan_id, starts_at=OCTOBER)


def build(engine: Engine, customer_id: str, now: datetime) -> overview.Overview:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return overview.build(session, customer, now)


def upcoming_total(engine: Engine, customer_id: str, now: datetime) -> Decimal:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return Decimal(invoices.upcoming(session, customer, now).total)


def test_projection_if_every_pending_outcome_settles_is_what_then_bills(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    # Nov 3: 6 resolutions (2 free, 4 paid at 0.99). Nov 20: 3 more, still pending at noon:
    # the 5th paid unit at 0.99, the 6th and 7th at 0.79 once they settle.
    events = [resolution(f"e-{n}", nov(3), f"c-{n}") for n in range(6)]
    events += [resolution(f"p-{n}", nov(20, 9 + n), f"p-{n}") for n in range(3)]
    ingest_all(engine, vendor.id, events, nov(20, 12))
    shown = build(engine, acme, nov(20, 12))
    assert shown.projection is not None
    assert shown.projection.now == Decimal("23.96")  # 4 x 0.99 + 20.00
    assert shown.projection.if_settled == Decimal("26.53")  # + 0.99 + 0.79 + 0.79
    assert shown.projection.pending_value == {"resolved_conversation": Decimal("2.57")}
    assert upcoming_total(engine, acme, nov(22, 12)) == Decimal("26.53")


def test_credits_count_in_what_is_due_once_every_pending_outcome_settles(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    # The case above with 25.00 of credits: they pay the 23.96 billed now, and 1.04 of the
    # 2.57 pending, so 1.53 is due once everything settles.
    grant(engine, acme, "25.00", OCTOBER, category="promotional")
    events = [resolution(f"e-{n}", nov(3), f"c-{n}") for n in range(6)]
    events += [resolution(f"p-{n}", nov(20, 9 + n), f"p-{n}") for n in range(3)]
    ingest_all(engine, vendor.id, events, nov(20, 12))
    shown = build(engine, acme, nov(20, 12))
    assert shown.projection is not None
    assert shown.projection.now == Decimal("0.00")
    assert shown.projection.if_settled == Decimal("1.53")
    assert shown.projection.pending_value == {"resolved_conversation": Decimal("2.57")}
    assert upcoming_total(engine, acme, nov(22, 12)) == Decimal("1.53")


def test_nothing_pending_projects_the_same_total(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    ingest_all(engine, vendor.id, [resolution("e-1", nov(3), "c-1")], nov(20))
    shown = build(engine, acme, nov(20))
    assert shown.projection is not None
    assert shown.projection.if_settled == shown.projection.now == Decimal("20.00")
    assert shown.projection.pending_value == {}


def test_previous_period_not_invoiced_says_how_many_outcomes_are_pending(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    # October: 5 settled resolutions (3 paid), 2 on Oct 31 evening still pending on Nov 1.
    events = [resolution(f"o-{n}", at(10), f"o-{n}") for n in range(5)]
    events += [resolution(f"late-{n}", at(31, 20), f"late-{n}") for n in range(2)]
    ingest_all(engine, vendor.id, events, at(31, 21))
    shown = build(engine, acme, nov(1, 12))
    assert shown.previous is not None and shown.previous.invoice is None
    assert shown.previous.total == Decimal("22.97")  # 3 x 0.99 + 20.00
    assert shown.previous.pending == 2
    report = close(engine, nov(5))
    assert [i.total for i in report.invoices] == [Decimal("24.95")]  # the two at 0.99
    after = build(engine, acme, nov(5, 12))
    assert after.previous is not None and after.previous.pending == 0
    assert after.previous.total == Decimal("24.95")


def test_previous_period_is_compared_over_the_same_number_of_days(
    engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    # October: 4 resolutions on Oct 5 (2 paid), 10 on Oct 25 (all paid). November by the
    # 15th: 3 (1 paid). Like for like is October's first 15 days: 2 paid, not the month.
    events = [resolution(f"a-{n}", at(5), f"a-{n}") for n in range(4)]
    events += [resolution(f"b-{n}", at(25), f"b-{n}") for n in range(10)]
    ingest_all(engine, vendor.id, events, at(26))
    ingest_all(
        engine, vendor.id, [resolution(f"n-{n}", nov(3), f"n-{n}") for n in range(3)], nov(4)
    )
    now = nov(16, 0)
    shown = build(engine, acme, now)
    assert shown.previous is not None and shown.previous.same_days is not None
    assert shown.previous.same_days.days == 15
    assert shown.previous.same_days.until == at(16, 0)
    assert shown.previous.same_days.total == Decimal("21.98")  # 2 x 0.99 + 20.00
    assert shown.previous.total == Decimal("30.48")  # the whole month: 5 x 0.99 + 7 x 0.79 + 20
    assert shown.total == Decimal("20.99")
    assert shown.change == Decimal("-0.99")
