"""Changes after an invoice was issued become lines of the next one, naming what they fix."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.models import InvoiceLine
from metering.billing.invoices.service import upcoming
from metering.catalog.customers.models import Customer
from metering.catalog.vendors.models import Vendor
from metering.ledger.outcomes.models import Outcome, StalePeriod
from metering.ledger.plan_changes.service import subscribe
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

OCTOBER_EVENTS = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)] + [
    deal("d1", at(3), "1000.50")
]
OCTOBER_LINES = [
    ("charge", "resolved_conversation (graduated)", "5.74"),
    ("charge", "pipeline_value (percentage)", "15.01"),
    ("charge", "Platform fee", "20.00"),
]
NOVEMBER_LINES = [
    ("charge", "resolved_conversation (graduated)", "0.00"),
    ("charge", "pipeline_value (percentage)", "0.00"),
    ("charge", "Platform fee", "20.00"),
    ("minimum", "Minimum spend true-up", "5.00"),
]


def october_closed(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, OCTOBER_EVENTS, at(25))
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert summary(engine, october.id) == OCTOBER_LINES
    return october.id


def period_total(engine: Engine, period_start: datetime) -> Decimal:
    with Session(engine) as session:
        amounts = session.exec(
            select(InvoiceLine.amount).where(col(InvoiceLine.period_start) == period_start)
        ).all()
    return sum(amounts, Decimal(0))


def outcome_id(engine: Engine, event_id: str) -> int:
    with Session(engine) as session:
        row = session.exec(select(Outcome).where(Outcome.event_id == event_id)).one()
        assert row.id is not None
        return row.id


def test_a_reversal_after_the_invoice_is_credited_on_the_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    october = october_closed(engine, vendor)
    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))

    report = close(engine, at(5, month=12))

    november = invoices(engine)[1]
    assert report.corrected_periods == 1
    assert summary(engine, november.id) == [
        *NOVEMBER_LINES,
        # 7 conversations now, 2 free: 5 at 0.99
        ("credit", "Correction of invoice #1: resolved_conversation (graduated)", "-0.79"),
    ]
    credit = lines(engine, november.id)[-1]
    assert credit.corrects_invoice_id == october
    assert credit.period_start == OCTOBER
    assert credit.quantity == Decimal(-1)
    assert credit.outcome_ids == [outcome_id(engine, "r3")]
    assert november.total == Decimal("24.21")
    assert period_total(engine, OCTOBER) == Decimal("40.75") - Decimal("0.79")


def test_a_void_after_the_invoice_is_credited_on_the_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    october_closed(engine, vendor)
    void_event(engine, vendor.id, "d1", "test deal", at(10, month=11))

    close(engine, at(5, month=12))

    november = invoices(engine)[1]
    assert summary(engine, november.id)[len(NOVEMBER_LINES) :] == [
        ("credit", "Correction of invoice #1: pipeline_value (percentage)", "-15.01"),
    ]
    assert lines(engine, november.id)[-1].outcome_ids == [outcome_id(engine, "d1")]


def test_a_late_event_is_an_adjustment_naming_its_period(
    engine: Engine, vendor: VendorFixture
) -> None:
    october = october_closed(engine, vendor)
    send(engine, vendor.id, [resolution("late", at(31), "c-late")], at(20, month=11))

    close(engine, at(5, month=12))

    november = invoices(engine)[1]
    assert summary(engine, november.id)[len(NOVEMBER_LINES) :] == [
        ("adjustment", "Adjustment for 2026-10: resolved_conversation (graduated)", "0.79"),
    ]
    adjustment = lines(engine, november.id)[-1]
    assert adjustment.corrects_invoice_id == october
    assert adjustment.outcome_ids == [outcome_id(engine, "late")]


def test_a_correction_moves_the_minimum_true_up_with_the_charge(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(5)]
    send(engine, vendor.id, [*events, deal("d1", at(3), "10")], at(25))
    close(engine, at(5, month=11))
    # 3 paid conversations 2.97 + the deal's per-event minimum 1.00 + 20.00: 1.03 true-up
    assert invoices(engine)[0].total == Decimal("25.00")
    void_event(engine, vendor.id, "d1", "test deal", at(10, month=11))

    close(engine, at(5, month=12))

    november = invoices(engine)[1]
    assert summary(engine, november.id)[len(NOVEMBER_LINES) :] == [
        ("credit", "Correction of invoice #1: pipeline_value (percentage)", "-1.00"),
        ("credit", "Correction of invoice #1: Minimum spend true-up", "1.00"),
    ]
    assert period_total(engine, OCTOBER) == Decimal("25.00")


def test_corrections_of_corrections_keep_the_period_at_its_price(
    engine: Engine, vendor: VendorFixture
) -> None:
    october_closed(engine, vendor)
    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))
    close(engine, at(5, month=12))
    send(engine, vendor.id, [resolution("late", at(31), "c-late")], at(10, month=12))
    void_event(engine, vendor.id, "o1", "reopened by mistake", at(10, month=12))

    close(engine, at(5, month=1).replace(year=2027))

    december = invoices(engine)[2]
    # c3 counts again and the late conversation is new: 9 conversations, 7 paid.
    assert summary(engine, december.id)[len(NOVEMBER_LINES) :] == [
        ("adjustment", "Adjustment for 2026-10: resolved_conversation (graduated)", "1.58"),
    ]
    assert period_total(engine, OCTOBER) == Decimal("40.75") + Decimal("0.79")
    assert sorted(lines(engine, december.id)[-1].outcome_ids) == sorted(
        [outcome_id(engine, "r3"), outcome_id(engine, "late")]
    )


def test_a_stale_mark_without_changes_adds_no_line(engine: Engine, vendor: VendorFixture) -> None:
    october_closed(engine, vendor)
    # A reopen of a conversation that never counted changes no outcome row.
    send(engine, vendor.id, [reopen("o1", at(30), "c-unknown")], at(10, month=11))

    report = close(engine, at(5, month=12))

    assert summary(engine, invoices(engine)[1].id) == NOVEMBER_LINES
    assert report.corrected_periods == 0


def test_a_correction_never_lands_on_an_invoice_in_another_currency(
    engine: Engine, vendor: VendorFixture
) -> None:
    """October billed in usd, November on a plan in eur: the October credit waits, marked,
    instead of being added in the wrong currency."""
    plan = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    euro = RULES.replace("plan: support-agent", "plan: support-eu").replace("usd", "eur")
    create_plan(engine, vendor.id, euro)
    with Session(engine) as session:
        owner = session.get(Vendor, vendor.id)
        customer = session.get(Customer, customer_id)
        assert owner is not None and customer is not None
        subscribe(session, owner, customer, "support-eu", now=at(20))
        session.commit()
    send(engine, vendor.id, OCTOBER_EVENTS, at(25))
    close(engine, at(5, month=11))
    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))

    close(engine, at(5, month=12))

    october, november = invoices(engine)
    assert (october.currency, november.currency) == ("usd", "eur")
    assert summary(engine, november.id) == NOVEMBER_LINES
    with Session(engine) as session:
        marks = session.exec(select(StalePeriod)).all()
        assert [mark.period_start for mark in marks] == [OCTOBER]
        found = session.get(Customer, customer_id)
        assert found is not None
        shown = upcoming(session, found, at(10, month=12))
    assert shown.corrections == []
