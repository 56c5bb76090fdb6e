"""The issue's Zendesk case, scaled by 1,000: 12 resolutions a year billed monthly, a plan
change in month 6 (overage 1.20 -> 1.30), the crossing in month 9 with overage from that
exact outcome, a shortfall true-up, and a late event and reversals that move outcomes back
under the commitment across the crossing month (both DBs, to the cent)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.billing.invoices.models import InvoiceLine
from metering.billing.invoices.service import upcoming
from metering.catalog.customers.models import Customer
from metering.ledger.outcomes.models import Outcome
from tests.metering.billing.commitments.helpers import (
    RULES,
    VERSION_2,
    YEAR,
    change_plan,
    day,
    month_end_close,
    reopened,
    resolved,
    send_month,
)
from tests.metering.billing.invoices.helpers import invoices, lines, send, summary
from tests.metering.conftest import VendorFixture, create_customer, create_plan

FEE = ("charge", "Platform fee", "10.00")


def committed(units: int) -> tuple[str, str, str]:
    amount = Decimal("0.50") * units
    return ("commitment", f"resolved_conversation (committed, {units} at 0.50)", f"{amount:.2f}")


def overage(units: int, price: str = "1.30") -> tuple[str, str, str]:
    amount = Decimal(price) * units
    return (
        "commitment",
        f"resolved_conversation (overage, {units} past the 12 committed at {price})",
        f"{amount:.2f}",
    )


def outcome_ids(engine: Engine, *event_ids: str) -> list[int]:
    with Session(engine) as session:
        rows = session.exec(select(Outcome).where(col(Outcome.event_id).in_(event_ids))).all()
        return sorted(row.id for row in rows if row.id is not None)


def through_september(engine: Engine, vendor: VendorFixture) -> None:
    """One resolution a month, two in June around the plan change, five in September."""
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    create_plan(engine, vendor.id, VERSION_2)
    for month in range(1, 6):
        send_month(engine, vendor.id, month, [10])
        month_end_close(engine, month)
    send_month(engine, vendor.id, 6, [10])
    change_plan(engine, vendor.id, customer, day(6, 15, 0))
    send_month(engine, vendor.id, 6, [20])
    month_end_close(engine, 6)
    for month in (7, 8):
        send_month(engine, vendor.id, month, [10])
        month_end_close(engine, month)
    send_month(engine, vendor.id, 9, [2, 4, 6, 8, 10])
    month_end_close(engine, 9)


def test_the_crossing_in_month_nine_bills_overage_from_the_exact_outcome(
    engine: Engine, vendor: VendorFixture
) -> None:
    through_september(engine, vendor)
    for month in (10, 11, 12):
        send_month(engine, vendor.id, month, [10])
        month_end_close(engine, month)

    found = invoices(engine)
    # June is split by the plan change: two invoices, each priced by its own version.
    assert [(i.period_start.month, i.period_start.day) for i in found] == [
        (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (6, 15),
        (7, 1), (8, 1), (9, 1), (10, 1), (11, 1), (12, 1),
    ]  # fmt: skip
    for invoice in found[:9]:
        assert summary(engine, invoice.id) == [FEE, committed(1)]
    september = found[9]
    # 9 used before September, 3 remaining: the 4th September resolution is the first overage.
    assert summary(engine, september.id) == [FEE, committed(3), overage(2)]
    assert september.total == Decimal("14.10")
    _, under, over = lines(engine, september.id)
    assert under.outcome_ids == outcome_ids(engine, "m9d2", "m9d4", "m9d6")
    assert over.outcome_ids == outcome_ids(engine, "m9d8", "m9d10")
    for invoice in found[10:]:
        assert summary(engine, invoice.id) == [FEE, committed(0), overage(1)]
    assert found[-1].total == Decimal("11.30")  # used 15 of 12: no true-up


def test_a_shortfall_is_trued_up_on_the_last_period_of_the_term(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    for month in range(1, 13):
        send_month(engine, vendor.id, month, [10] if month <= 9 else [])
        month_end_close(engine, month)

    found = invoices(engine)
    assert len(found) == 12
    assert summary(engine, found[10].id) == [FEE, committed(0)]
    assert summary(engine, found[11].id) == [
        FEE,
        committed(0),
        (
            "commitment",
            "Commitment shortfall true-up (3 of 12 resolved_conversation unused)",
            "1.50",
        ),
    ]
    # The next term starts over: January 2027 is under a fresh commitment.
    send(
        engine,
        vendor.id,
        [resolved("y2", day(1, 10).replace(year=2027))],
        day(1, 11).replace(year=2027),
    )
    month_end_close(engine, 13)
    assert summary(engine, invoices(engine)[12].id) == [FEE, committed(1)]


def test_a_late_event_and_reversals_move_the_crossing_back_to_the_cent(
    engine: Engine, vendor: VendorFixture
) -> None:
    through_september(engine, vendor)
    # After September was invoiced: July's and August's resolutions are reopened, and a
    # resolution of September 1st (before every other September one) arrives late.
    send(
        engine,
        vendor.id,
        [reopened("o7", "m7d10", day(10, 8)), reopened("o8", "m8d10", day(10, 8))],
        day(10, 9),
    )
    send(engine, vendor.id, [resolved("late", day(9, 1))], day(10, 12))
    send_month(engine, vendor.id, 10, [20])
    month_end_close(engine, 10)

    october = invoices(engine)[-1]
    credit = "Correction of invoice #{}: resolved_conversation ({})"
    assert summary(engine, october.id) == [
        # 7 used before September, September now 6: 5 under, 1 over; October all over.
        FEE,
        committed(0),
        overage(1),
        # July and August: their one resolution taken back (a correction names the line
        # as the period prices now).
        ("credit", credit.format(8, "committed, 0 at 0.50"), "-0.50"),
        ("credit", credit.format(9, "committed, 0 at 0.50"), "-0.50"),
        # September: 3 -> 5 committed (+1.00), 2 -> 1 over (-1.30).
        (
            "adjustment",
            "Adjustment for 2026-09: resolved_conversation (committed, 5 at 0.50)",
            "1.00",
        ),
        ("credit", credit.format(10, "overage, 1 past the 12 committed at 1.30"), "-1.30"),
    ]
    assert october.total == Decimal("10.00")
    with Session(engine) as session:
        september = session.exec(
            select(InvoiceLine).where(col(InvoiceLine.period_start) == day(9, 1, 0))
        ).all()
    by_key: dict[str, Decimal] = {}
    for line in september:
        by_key[line.charge_key] = by_key.get(line.charge_key, Decimal(0)) + line.amount
    # September's lines add up to its price now: 5 committed, the last one over.
    assert by_key == {
        "charge:0:Platform fee": Decimal("10.00"),
        "commitment:committed": Decimal("2.50"),
        "commitment:overage": Decimal("1.30"),
    }


def test_the_upcoming_invoice_counts_the_term_so_far(engine: Engine, vendor: VendorFixture) -> None:
    through_september(engine, vendor)
    send_month(engine, vendor.id, 10, [10])
    with Session(engine) as session:
        customer = session.exec(select(Customer)).one()
        shown = upcoming(session, customer, day(10, 20))

    assert [(line.description, line.amount) for line in shown.lines] == [
        ("Platform fee", "10.00"),
        ("resolved_conversation (committed, 0 at 0.50)", "0.00"),
        ("resolved_conversation (overage, 1 past the 12 committed at 1.30)", "1.30"),
    ]
