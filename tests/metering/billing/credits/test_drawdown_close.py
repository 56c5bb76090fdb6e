"""Credits paying invoices at the close, to the cent (both DBs)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credits import service
from metering.billing.credits.models import CreditGrant
from metering.billing.invoices import service as invoice_service
from metering.billing.invoices.models import Invoice
from tests.metering.billing.credits.helpers import (
    JPY_RULES,
    RULES,
    assert_ledger_right,
    entries,
    grant,
    remaining,
    resolutions,
)
from tests.metering.billing.invoices.helpers import OCTOBER, at, close, invoices, lines, summary
from tests.metering.conftest import VendorFixture, create_customer, create_plan

FEE = ("charge", "Platform fee", "20.00")


def test_two_grants_by_priority_and_expiry_over_three_periods(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    soon = grant(
        engine,
        customer,
        "50.00",
        at(1),
        name="Soon",
        effective_at=OCTOBER,
        expires_at=at(15, 0, month=12),
    )
    later = grant(engine, customer, "100.00", at(1), name="Later", effective_at=OCTOBER)
    promo = grant(
        engine,
        customer,
        "10.00",
        at(1),
        name="Promo",
        priority=5,
        effective_at=at(15, 0, month=11),
        expires_at=at(20, 0, month=11),
    )
    resolutions(engine, vendor.id, "oct", 10, at(10))
    resolutions(engine, vendor.id, "nov", 20, at(10, month=11))
    resolutions(engine, vendor.id, "dec", 30, at(10, month=12))

    close(engine, at(5, month=11))
    close(engine, at(5, month=12))
    close(engine, at(5, month=1).replace(year=2027))

    october, november, december = invoices(engine)
    # 10 x 2.50 + 20.00 = 45.00: "Soon" first (same priority, earlier expiry); the promo is
    # not valid yet in October.
    assert summary(engine, october.id) == [
        ("charge", "Resolutions", "25.00"),
        FEE,
        ("credits", "Credits: Soon", "-45.00"),
    ]
    assert october.total == Decimal("0.00")
    # 20 x 2.50 + 20.00 = 70.00: the promo (priority 5) 10.00, "Soon" its last 5.00,
    # "Later" the other 55.00.
    assert summary(engine, november.id) == [
        ("charge", "Resolutions", "50.00"),
        FEE,
        ("credits", "Credits: Promo", "-10.00"),
        ("credits", "Credits: Soon", "-5.00"),
        ("credits", "Credits: Later", "-55.00"),
    ]
    assert november.total == Decimal("0.00")
    # 30 x 2.50 + 20.00 = 95.00: "Later" has 45.00 left, the customer pays 50.00.
    assert summary(engine, december.id) == [
        ("charge", "Resolutions", "75.00"),
        FEE,
        ("credits", "Credits: Later", "-45.00"),
    ]
    assert december.total == Decimal("50.00")
    assert entries(engine, soon) == [
        ("grant", "50.00"),
        ("drawdown", "-45.00"),
        ("drawdown", "-5.00"),
    ]
    assert entries(engine, promo) == [("grant", "10.00"), ("drawdown", "-10.00")]
    assert entries(engine, later) == [
        ("grant", "100.00"),
        ("drawdown", "-55.00"),
        ("drawdown", "-45.00"),
    ]
    assert [remaining(engine, g) for g in (soon, later, promo)] == [Decimal(0)] * 3
    assert_ledger_right(engine)


def test_applies_to_pays_only_its_charge_not_the_minimum_true_up(
    engine: Engine, vendor: VendorFixture
) -> None:
    rules = RULES + 'minimum: "50.00"\n'
    plan = create_plan(engine, vendor.id, rules)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    usage = grant(
        engine,
        customer,
        "100.00",
        at(1),
        name="Usage",
        effective_at=OCTOBER,
        applies_to=["Resolutions"],
    )
    fee = grant(
        engine,
        customer,
        "5.00",
        at(1),
        name="Fee",
        effective_at=OCTOBER,
        priority=200,
        applies_to=["Platform fee"],
    )
    resolutions(engine, vendor.id, "oct", 4, at(10))

    close(engine, at(5, month=11))

    [october] = invoices(engine)
    # 4 x 2.50 = 10.00 + 20.00 fee, trued up to the 50.00 minimum: "Usage" pays the
    # resolutions only, "Fee" 5.00 of the fee; the true-up is the customer's.
    assert summary(engine, october.id) == [
        ("charge", "Resolutions", "10.00"),
        FEE,
        ("minimum", "Minimum spend true-up", "20.00"),
        ("credits", "Credits: Usage", "-10.00"),
        ("credits", "Credits: Fee", "-5.00"),
    ]
    assert october.total == Decimal("35.00")
    assert (remaining(engine, usage), remaining(engine, fee)) == (Decimal("90.00"), Decimal(0))
    assert_ledger_right(engine)


def test_a_half_used_grant_voided_pays_nothing_more(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    pack = grant(engine, customer, "90.00", at(1), name="Pack", effective_at=OCTOBER)
    resolutions(engine, vendor.id, "oct", 10, at(10))
    resolutions(engine, vendor.id, "nov", 4, at(10, month=11))
    close(engine, at(5, month=11))
    with Session(engine) as session:
        found = session.get(CreditGrant, pack)
        assert found is not None
        service.void(session, found, at(6, month=11), "contract ended")
        session.commit()

    close(engine, at(5, month=12))

    _, november = invoices(engine)
    assert summary(engine, november.id) == [("charge", "Resolutions", "10.00"), FEE]
    assert november.total == Decimal("30.00")
    assert entries(engine, pack) == [("grant", "90.00"), ("drawdown", "-45.00"), ("void", "-45.00")]
    assert_ledger_right(engine)


def test_a_jpy_customer_draws_whole_yen(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, JPY_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    pack = grant(engine, customer, "3333", at(1), name="Pack", effective_at=OCTOBER)
    resolutions(engine, vendor.id, "oct", 10, at(10))

    close(engine, at(5, month=11))

    [october] = invoices(engine)
    # 10 x 250 + 2000 = 4500 yen; the grant pays 3333, the customer 1167.
    assert [(line.kind, line.amount) for line in lines(engine, october.id)] == [
        ("charge", Decimal(2500)),
        ("charge", Decimal(2000)),
        ("credits", Decimal(-3333)),
    ]
    assert (october.currency, october.total) == ("jpy", Decimal(1167))
    assert remaining(engine, pack) == Decimal(0)
    assert_ledger_right(engine)


def test_a_voided_invoice_gives_its_credits_back(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    pack = grant(engine, customer, "30.00", at(1), name="Pack", effective_at=OCTOBER)
    resolutions(engine, vendor.id, "oct", 10, at(10))
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert october.total == Decimal("15.00")

    with Session(engine) as session:
        stored = session.get(Invoice, october.id)
        assert stored is not None
        invoice_service.void(session, stored, at(6, month=11))
        session.commit()

    assert entries(engine, pack) == [
        ("grant", "30.00"),
        ("drawdown", "-30.00"),
        ("restore", "30.00"),
    ]
    assert remaining(engine, pack) == Decimal("30.00")
    assert_ledger_right(engine)
