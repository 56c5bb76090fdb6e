"""Credits paying invoices at the close, to the cent (both DBs)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from tests.metering.billing.credits.helpers import (
    RULES,
    assert_ledger_right,
    entries,
    grant,
    remaining,
    resolutions,
)
from tests.metering.billing.invoices.helpers import OCTOBER, at, close, invoices, summary
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
