"""Corrections of periods credits paid: restores, money credits, adjustments drawn (both
DBs). Over all invoices and entries, a period's usage is paid exactly once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.credits.expiry import expire_due
from metering.billing.credits.models import CreditEntry
from metering.billing.invoices.models import InvoiceLine
from tests.metering.billing.credits.helpers import (
    RULES,
    assert_ledger_right,
    entries,
    grant,
    remaining,
    resolutions,
)
from tests.metering.billing.invoices.helpers import (
    NOVEMBER,
    OCTOBER,
    at,
    close,
    invoices,
    reopen,
    resolution,
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan

OCTOBER_PAID = [
    ("charge", "Resolutions", "25.00"),
    ("charge", "Platform fee", "20.00"),
    ("credits", "Credits: Pack", "-45.00"),
]
NOVEMBER_CHARGES = [
    ("charge", "Resolutions", "10.00"),
    ("charge", "Platform fee", "20.00"),
]


def october_paid_by(engine: Engine, vendor: VendorFixture, amount: str, **fields: object) -> str:
    """October (10 resolutions: 45.00) closed and paid by a grant; November has 4."""
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    pack = grant(engine, customer, amount, at(1), name="Pack", effective_at=OCTOBER, **fields)
    resolutions(engine, vendor.id, "oct", 10, at(10))
    resolutions(engine, vendor.id, "nov", 4, at(10, month=11))
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert summary(engine, october.id) == OCTOBER_PAID
    return pack


def paid_once(engine: Engine, period_start: datetime) -> tuple[Decimal, Decimal, Decimal]:
    """(price of the period's usage, paid in money, paid by credits net of restores)."""
    with Session(engine) as session:
        found = session.exec(
            select(InvoiceLine).where(col(InvoiceLine.period_start) == period_start)
        ).all()
        drawn = [
            entry.amount
            for entry in session.exec(
                select(CreditEntry).where(col(CreditEntry.period_start) == period_start)
            )
        ]
    price = sum((line.amount for line in found if line.kind != "credits"), Decimal(0))
    money = sum((line.amount for line in found), Decimal(0))
    return price, money, -sum(drawn, Decimal(0))


def test_a_reversal_of_a_period_credits_paid_restores_the_grant(
    engine: Engine, vendor: VendorFixture
) -> None:
    pack = october_paid_by(engine, vendor, "100.00")
    send(
        engine,
        vendor.id,
        [reopen("o1", at(12), "oct-c1"), reopen("o2", at(12), "oct-c2")],
        at(10, month=11),
    )

    close(engine, at(5, month=12))

    _, november = invoices(engine)
    assert summary(engine, november.id) == [
        *NOVEMBER_CHARGES,
        ("credit", "Correction of invoice #1: Resolutions", "-5.00"),
        ("credits", "Credits restored: Pack", "5.00"),
        ("credits", "Credits: Pack", "-30.00"),
    ]
    assert november.total == Decimal("0.00")
    assert entries(engine, pack) == [
        ("grant", "100.00"),
        ("drawdown", "-45.00"),
        ("restore", "5.00"),
        ("drawdown", "-30.00"),
    ]
    assert remaining(engine, pack) == Decimal("30.00")
    # October: 8 resolutions now, 40.00, paid by credits alone.
    assert paid_once(engine, OCTOBER) == (Decimal("40.00"), Decimal("0.00"), Decimal("40.00"))
    assert_ledger_right(engine)


def test_a_reversal_after_the_grant_expired_is_a_money_credit(
    engine: Engine, vendor: VendorFixture
) -> None:
    pack = october_paid_by(engine, vendor, "50.00", expires_at=NOVEMBER)
    assert expire_due(engine, at(5, month=11)) == 1
    send(
        engine,
        vendor.id,
        [reopen("o1", at(12), "oct-c1"), reopen("o2", at(12), "oct-c2")],
        at(10, month=11),
    )

    close(engine, at(5, month=12))

    _, november = invoices(engine)
    assert summary(engine, november.id) == [
        *NOVEMBER_CHARGES,
        ("credit", "Correction of invoice #1: Resolutions", "-5.00"),
    ]
    assert november.total == Decimal("25.00")
    assert entries(engine, pack) == [
        ("grant", "50.00"),
        ("drawdown", "-45.00"),
        ("expiry", "-5.00"),
    ]
    # October: 40.00, credits paid 45.00 and the customer gets 5.00 back in money.
    assert paid_once(engine, OCTOBER) == (Decimal("40.00"), Decimal("-5.00"), Decimal("45.00"))
    assert_ledger_right(engine)


def test_a_late_event_draws_from_a_grant_valid_for_its_period(
    engine: Engine, vendor: VendorFixture
) -> None:
    pack = october_paid_by(engine, vendor, "100.00")
    send(engine, vendor.id, [resolution("late", at(31), "c-late")], at(20, month=11))

    close(engine, at(5, month=12))

    _, november = invoices(engine)
    assert summary(engine, november.id) == [
        *NOVEMBER_CHARGES,
        ("adjustment", "Adjustment for 2026-10: Resolutions", "2.50"),
        ("credits", "Credits: Pack", "-2.50"),
        ("credits", "Credits: Pack", "-30.00"),
    ]
    assert november.total == Decimal("0.00")
    assert remaining(engine, pack) == Decimal("22.50")
    assert paid_once(engine, OCTOBER) == (Decimal("47.50"), Decimal("0.00"), Decimal("47.50"))
    assert_ledger_right(engine)


def test_a_late_event_after_the_grant_expired_is_billed(
    engine: Engine, vendor: VendorFixture
) -> None:
    october_paid_by(engine, vendor, "45.00", expires_at=NOVEMBER)
    send(engine, vendor.id, [resolution("late", at(31), "c-late")], at(20, month=11))

    close(engine, at(5, month=12))

    _, november = invoices(engine)
    assert summary(engine, november.id)[-1] == (
        "adjustment",
        "Adjustment for 2026-10: Resolutions",
        "2.50",
    )
    assert november.total == Decimal("32.50")
    assert paid_once(engine, OCTOBER) == (Decimal("47.50"), Decimal("2.50"), Decimal("45.00"))
    assert_ledger_right(engine)


def test_a_reversal_restores_a_grant_the_period_used_up(
    engine: Engine, vendor: VendorFixture
) -> None:
    # October's 45.00 takes the whole pack: the restore still finds it at the next close.
    pack = october_paid_by(engine, vendor, "45.00")
    assert remaining(engine, pack) == Decimal("0.00")
    send(
        engine,
        vendor.id,
        [reopen("o1", at(12), "oct-c1"), reopen("o2", at(12), "oct-c2")],
        at(10, month=11),
    )

    close(engine, at(5, month=12))

    _, november = invoices(engine)
    assert summary(engine, november.id) == [
        *NOVEMBER_CHARGES,
        ("credit", "Correction of invoice #1: Resolutions", "-5.00"),
        ("credits", "Credits restored: Pack", "5.00"),
    ]
    assert november.total == Decimal("30.00")
    assert entries(engine, pack) == [
        ("grant", "45.00"),
        ("drawdown", "-45.00"),
        ("restore", "5.00"),
    ]
    assert remaining(engine, pack) == Decimal("5.00")
    assert paid_once(engine, OCTOBER) == (Decimal("40.00"), Decimal("0.00"), Decimal("40.00"))
    assert_ledger_right(engine)
