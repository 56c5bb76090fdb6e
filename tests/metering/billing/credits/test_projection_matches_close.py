"""The balance's projected draw is what the close then draws, to the cent (both DBs)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credits import service
from metering.catalog.customers.models import Customer
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
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan


def test_projected_draw_is_what_the_close_draws(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    fee = grant(
        engine,
        customer,
        "15.00",
        at(1),
        name="Fee only",
        priority=1,
        effective_at=OCTOBER,
        applies_to=["Platform fee"],
    )
    small = grant(
        engine,
        customer,
        "12.35",
        at(1),
        name="Small",
        priority=5,
        effective_at=OCTOBER,
        expires_at=at(1, 0, month=12),
    )
    big = grant(engine, customer, "100.00", at(1), name="Big", effective_at=OCTOBER)
    resolutions(engine, vendor.id, "oct", 13, at(10))
    # Two of them reopened: no longer billed, in the projection as at the close.
    send(
        engine, vendor.id, [reopen("r1", at(12), "oct-c1"), reopen("r2", at(12), "oct-c2")], at(12)
    )

    projected_at = NOVEMBER - timedelta(hours=1)
    with Session(engine) as session:
        found = session.get(Customer, customer)
        assert found is not None
        [usd] = service.balance_of(session, found, projected_at).balances

    close(engine, at(5, month=11))

    # 11 x 2.50 + 20.00 = 47.50: "Fee only" pays 15.00 of the fee, "Small" its 12.35,
    # "Big" the other 20.15.
    [october] = invoices(engine)
    assert summary(engine, october.id)[-3:] == [
        ("credits", "Credits: Fee only", "-15.00"),
        ("credits", "Credits: Small", "-12.35"),
        ("credits", "Credits: Big", "-20.15"),
    ]
    drawn = [
        -Decimal(amount)
        for grant_id in (fee, small, big)
        for kind, amount in entries(engine, grant_id)
        if kind == "drawdown"
    ]
    assert (usd.projected_draw, str(sum(drawn, Decimal(0)))) == ("47.50", "47.50")
    assert usd.available == "127.35"
    left = sum((remaining(engine, g) for g in (fee, small, big)), Decimal(0))
    assert usd.available_after_projection == f"{left:.2f}" == "79.85"
    assert october.total == Decimal("0.00")
    assert_ledger_right(engine)
