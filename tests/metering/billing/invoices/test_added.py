"""What each outcome row adds to its invoice: its marginal price under its charge, 0 for a
row that is not billed, and the shares of a period add up to its lines."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.added import added_by_rows
from metering.ledger.outcomes.models import Outcome
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    reopen,
    resolution,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all

TIERED_SUM = RULES.replace(
    """    model: percentage
    rate: "1.5"
    per_event_min: "1.00"
    per_event_max: "50.00"
""",
    """    model: graduated
    tiers:
      - {up_to: 100, unit_price: "0.10"}
      - {up_to: null, unit_price: "0.05"}
""",
)


def added_by_event(engine: Engine) -> dict[str, Decimal | None]:
    with Session(engine) as session:
        rows = session.exec(select(Outcome).order_by(col(Outcome.id))).all()
        added = added_by_rows(session, rows)
        return {row.event_id: added[row.id or 0] for row in rows}


def test_each_resolution_adds_its_tier_price_and_a_deal_its_percentage(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_id = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan_id, starts_at=OCTOBER)
    events = [resolution(f"e-{n}", at(3, 10 + n), f"c-{n}") for n in range(8)]
    events += [
        resolution("e-1-again", at(3, 23), "c-1"),  # a duplicate of c-1
        resolution("e-r", at(4), "c-r"),
        reopen("reopen-r", at(4, 13), "c-r"),
        deal("d-1", at(5), "1000.00"),
        deal("d-2", at(5, 13), "20.00"),
    ]
    ingest_all(engine, vendor.id, events, at(6))
    added = added_by_event(engine)
    # 2 free, then 1-5 at 0.99, then 0.79 each (in the order they occurred).
    resolved = [added[f"e-{n}"] for n in range(8)]
    assert resolved == [
        Decimal(p) for p in ["0", "0", "0.99", "0.99", "0.99", "0.99", "0.99", "0.79"]
    ]
    assert added["e-1-again"] == 0 and added["e-r"] == 0
    assert added["d-1"] == Decimal("15.00") and added["d-2"] == Decimal("1.00")
    # Once closed, the shares of the counted rows are the invoice's charge lines.
    (invoice,) = close(engine, at(5, 12, month=11)).invoices
    shares = sum((a for a in added.values() if a is not None), Decimal(0))
    assert shares == Decimal("21.74")  # 5 x 0.99 + 0.79 + 15.00 + 1.00
    assert invoice.total == shares + Decimal("20.00")  # and the platform fee


def test_a_sum_adds_its_value_through_the_tiers_exactly(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_id = create_plan(engine, vendor.id, TIERED_SUM)
    create_customer(engine, vendor.id, "acme", plan_id, starts_at=OCTOBER)
    events = [deal("d-1", at(5), "60.10"), deal("d-2", at(6), "60.20"), deal("d-3", at(7), "0.30")]
    ingest_all(engine, vendor.id, events, at(8))
    added = added_by_event(engine)
    # 60.10 at 0.10; then 39.90 at 0.10 and 20.30 at 0.05; then 0.30 at 0.05.
    assert added == {"d-1": Decimal("6.01"), "d-2": Decimal("5.005"), "d-3": Decimal("0.015")}
