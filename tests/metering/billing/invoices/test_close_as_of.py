"""A close prices its period as of exactly its close instant, however late it runs.

October closes at November 1 + 72 h = November 4, 00:00. A reversal timestamped after that
instant, a void or an accepted dispute recorded after it, stored before a close that runs
late (November 5), must not count in October's invoice: it is the invoice an on-time close
issues, and the change is a correction on November's invoice, to the cent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.vendors.models import Vendor
from metering.ledger.disputes.service import accept, file
from metering.ledger.outcomes.models import Outcome, StalePeriod
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    invoices,
    lines,
    reopen,
    resolution,
    send,
    summary,
    void_event,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan

CLOSE_INSTANT = at(4, hour=0, month=11)
LATE_CLOSE = at(5, month=11)
OCTOBER_LINES = [
    ("charge", "resolved_conversation (graduated)", "5.74"),  # 8 conversations, 6 paid
    ("charge", "pipeline_value (percentage)", "15.01"),
    ("charge", "Platform fee", "20.00"),
]
NOVEMBER_LINES = [
    ("charge", "resolved_conversation (graduated)", "0.00"),
    ("charge", "pipeline_value (percentage)", "0.00"),
    ("charge", "Platform fee", "20.00"),
    ("minimum", "Minimum spend true-up", "5.00"),
]
CREDIT_C3 = ("credit", "Correction of invoice #1: resolved_conversation (graduated)", "-0.79")


def october_stored(engine: Engine, vendor: VendorFixture) -> str:
    """acme's October: eight conversations and a deal; the customer id."""
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, [*events, deal("d1", at(3), "1000.50")], at(25))
    return customer


def outcome_of(engine: Engine, event_id: str) -> Outcome:
    with Session(engine) as session:
        return session.exec(select(Outcome).where(Outcome.event_id == event_id)).one()


def stale_periods(engine: Engine) -> list[datetime]:
    with Session(engine) as session:
        marks = session.exec(select(StalePeriod).order_by(col(StalePeriod.period_start))).all()
        return [mark.period_start for mark in marks]


def october_then_november(engine: Engine) -> tuple[str, str]:
    """Close October late, then November on time; the two invoice ids."""
    close(engine, LATE_CLOSE)
    [october] = invoices(engine)
    assert october.as_of == CLOSE_INSTANT
    assert summary(engine, october.id) == OCTOBER_LINES
    assert october.total == Decimal("40.75")
    assert stale_periods(engine) == [OCTOBER]  # what waits is still to be corrected
    close(engine, at(5, month=12))
    november = invoices(engine)[1]
    assert stale_periods(engine) == []
    return october.id, november.id


def test_a_reversal_after_the_close_instant_stored_before_a_late_close_is_corrected_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    october_stored(engine, vendor)
    # c3 reopened six hours after the close instant, stored before the close runs.
    send(engine, vendor.id, [reopen("o1", at(4, hour=6, month=11), "c3")], at(4, 7, month=11))
    assert outcome_of(engine, "r3").state == "reversed"  # what it is now...

    october, november = october_then_november(engine)

    c3 = outcome_of(engine, "r3")
    assert c3.id in lines(engine, october)[0].outcome_ids  # ...but as of Nov 4 it counted
    assert summary(engine, november) == [*NOVEMBER_LINES, CREDIT_C3]
    credit = lines(engine, november)[-1]
    assert credit.corrects_invoice_id == october
    assert credit.outcome_ids == [c3.id]
    assert invoices(engine)[1].total == Decimal("24.21")


def test_a_reversal_timestamped_before_the_close_instant_counts_by_its_own_time(
    engine: Engine, vendor: VendorFixture
) -> None:
    """Stored after the close instant, but it happened before: October leaves c3 out."""
    october_stored(engine, vendor)
    send(engine, vendor.id, [reopen("o1", at(3, hour=23, month=11), "c3")], at(4, 7, month=11))

    close(engine, LATE_CLOSE)
    close(engine, at(5, month=12))

    october, november = invoices(engine)
    assert summary(engine, october.id)[0] == ("charge", "resolved_conversation (graduated)", "4.95")
    assert october.total == Decimal("39.96")
    assert summary(engine, november.id) == NOVEMBER_LINES


def test_a_void_recorded_after_the_close_instant_is_corrected_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    october_stored(engine, vendor)
    void_event(engine, vendor.id, "r3", "test traffic", at(4, hour=6, month=11))

    _, november = october_then_november(engine)

    assert summary(engine, november) == [*NOVEMBER_LINES, CREDIT_C3]
    assert lines(engine, november)[-1].outcome_ids == [outcome_of(engine, "r3").id]


def test_a_dispute_accepted_after_the_close_instant_is_credited_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = october_stored(engine, vendor)
    row_id = outcome_of(engine, "r3").id
    assert row_id is not None
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        owner = session.get(Vendor, vendor.id)
        assert customer is not None and owner is not None
        dispute = file(session, customer, row_id, "not resolved", at(2, month=11))
        accept(session, owner, dispute.id, "refunded", at(4, hour=6, month=11))
        session.commit()

    _, november = october_then_november(engine)

    assert summary(engine, november) == [*NOVEMBER_LINES, CREDIT_C3]


def test_an_on_time_and_a_late_close_issue_the_same_invoice(
    engine: Engine, vendor: VendorFixture
) -> None:
    """The reversal arrives after an on-time close here: the same October, the same credit."""
    october_stored(engine, vendor)
    close(engine, CLOSE_INSTANT)
    send(engine, vendor.id, [reopen("o1", at(4, hour=6, month=11), "c3")], at(4, 7, month=11))
    close(engine, at(5, month=12))

    october, november = invoices(engine)
    assert summary(engine, october.id) == OCTOBER_LINES
    assert summary(engine, november.id) == [*NOVEMBER_LINES, CREDIT_C3]
