"""An amount commitment through the close (both DBs, hand-computed to the cent): 120.00 a
year billed monthly (120,000.00 scaled down), spent at 4.00 a resolution (5.00 from the plan
change on June 15); past the commitment, spend is billed at 1.25x (a 25% overage line)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.billing.invoices.models import Invoice
from metering.catalog.plans.models import Plan
from metering.surfaces.simulation.readonly import read_only_session
from metering.surfaces.simulation.service import simulate
from pricing_rules.loader import load_rules
from tests.metering.billing.commitments.helpers import (
    AMOUNT_RULES,
    YEAR,
    change_plan,
    day,
    month_end_close,
    resolved,
    send_month,
)
from tests.metering.billing.commitments.test_commitment_portal import at_now, text_of
from tests.metering.billing.invoices.helpers import invoices, send, summary
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import sign_in

__all__ = ["at_now"]  # the portal's clock fixed at April 1: a quarter of the term gone
TERM_END = datetime(2027, 1, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)

VERSION_2 = AMOUNT_RULES.replace("version: 1", "version: 2").replace('"4.00"', '"5.00"')


def charge(count: int, price: str) -> tuple[str, str, str]:
    return ("charge", "Resolutions", f"{Decimal(price) * count:.2f}")


def drawn(amount: str, left: str) -> tuple[str, str, str]:
    text = f"Commitment drawn ({amount} of the 120 committed, {left} left)"
    return ("commitment", text, "0.00")


def overage(past: str) -> tuple[str, str, str]:
    text = (
        f"Commitment overage ({past} spent past the 120 committed, billed at 1.25x the "
        "plan's prices)"
    )
    return ("commitment", text, f"{Decimal(past) / 4:.2f}")


def through_september(engine: Engine, vendor: VendorFixture) -> list[Invoice]:
    """Two resolutions a month (8.00) to May: 40.00; June 1-14 one (4.00), June 15-30 two at
    5.00 (10.00): 54.00; July and August three (15.00 each): 84.00; September nine (45.00)."""
    plan = create_plan(engine, vendor.id, AMOUNT_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    create_plan(engine, vendor.id, VERSION_2)
    for month in range(1, 6):
        send_month(engine, vendor.id, month, [10, 11])
        month_end_close(engine, month)
    send_month(engine, vendor.id, 6, [10])
    change_plan(engine, vendor.id, customer, day(6, 15, 0))
    send_month(engine, vendor.id, 6, [20, 21])
    month_end_close(engine, 6)
    for month in (7, 8):
        send_month(engine, vendor.id, month, [10, 11, 12])
        month_end_close(engine, month)
    send_month(engine, vendor.id, 9, [1, 2, 3, 4, 5, 6, 7, 8, 9])
    month_end_close(engine, 9)
    return invoices(engine)


def test_the_spend_crosses_in_september_to_the_cent_across_a_plan_change(
    engine: Engine, vendor: VendorFixture
) -> None:
    found = through_september(engine, vendor)

    assert [(i.period_start.month, i.period_start.day) for i in found] == [
        (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (6, 15), (7, 1), (8, 1), (9, 1),
    ]  # fmt: skip
    assert summary(engine, found[0].id) == [charge(2, "4.00"), drawn("8", "112")]
    assert summary(engine, found[4].id) == [charge(2, "4.00"), drawn("8", "80")]
    # June is split by the plan change: each half priced by its own version, both drawn.
    assert summary(engine, found[5].id) == [charge(1, "4.00"), drawn("4", "76")]
    assert summary(engine, found[6].id) == [charge(2, "5.00"), drawn("10", "66")]
    assert summary(engine, found[8].id) == [charge(3, "5.00"), drawn("15", "36")]
    # 84.00 spent before September, 36.00 left: 7.2 resolutions fit, so the 8th is 1.00
    # under and 4.00 past it; 9.00 past it cost 25% more: 2.25.
    september = found[9]
    assert summary(engine, september.id) == [charge(9, "5.00"), drawn("36", "0"), overage("9")]
    assert september.total == Decimal("47.25")


def test_a_late_august_event_moves_the_crossing_and_the_close_corrects_september(
    engine: Engine, vendor: VendorFixture
) -> None:
    through_september(engine, vendor)
    # An August resolution arrives in October: August spends 20.00, so September had 31.00
    # left and 14.00 past it (overage 3.50, 1.25 more than billed).
    send(engine, vendor.id, [resolved("late-aug", day(8, 20))], day(10, 2))
    send_month(engine, vendor.id, 10, [10, 11])
    month_end_close(engine, 10)

    october = invoices(engine)[-1]
    assert october.period_start.month == 10
    # October: 10.00 all past the commitment (2.50 overage); August's resolution is billed
    # (5.00) and September's overage grows from 9.00 to 14.00 past it (+1.25). The drawn
    # lines carry no amount, so their move needs no correction line.
    assert summary(engine, october.id) == [
        charge(2, "5.00"),
        drawn("0", "0"),
        overage("10"),
        ("adjustment", "Adjustment for 2026-08: Resolutions", "5.00"),
        (
            "adjustment",
            "Adjustment for 2026-09: Commitment overage (14 spent past the 120 committed, "
            "billed at 1.25x the plan's prices)",
            "1.25",
        ),
    ]
    assert october.total == Decimal("18.75")


def test_a_shortfall_is_trued_up_on_the_last_period_of_the_term(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, AMOUNT_RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    for month in range(1, 13):
        send_month(engine, vendor.id, month, [10, 11] if month <= 11 else [10])
        month_end_close(engine, month)

    found = invoices(engine)
    assert len(found) == 12
    # 11 months of 8.00 and 4.00 in December: 92.00 spent, 28.00 of 120.00 unspent.
    assert summary(engine, found[11].id) == [
        charge(1, "4.00"),
        drawn("4", "28"),
        ("commitment", "Commitment shortfall true-up (28 of the 120 committed unspent)", "28.00"),
    ]
    assert found[11].total == Decimal("32.00")


def test_consumption_in_the_api_and_the_portal(
    engine: Engine, vendor: VendorFixture, app_client: TestClient, at_now: None
) -> None:
    plan = create_plan(engine, vendor.id, AMOUNT_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=YEAR)
    for month in (1, 2, 3):
        send_month(engine, vendor.id, month, [10, 11])  # 8.00 a month, not closed yet

    body = app_client.get(
        f"/v1/customers/{customer}/commitment", headers=bearer(vendor.api_key)
    ).json()
    as_of = datetime.fromisoformat(body["as_of"].replace("Z", "+00:00"))
    term = Decimal((TERM_END - YEAR).total_seconds())
    projected = Decimal(24) * term / Decimal((as_of - YEAR).total_seconds())
    assert body == {
        "customer_id": customer,
        "form": "amount",
        "outcome": None,
        "committed": "120.00",
        "used": "24.00",
        "remaining": "96.00",
        "projected": str(projected.quantize(Decimal("0.01"), ROUND_HALF_UP)),
        "price": None,
        "term_start": "2026-01-01T00:00:00Z",
        "term_end": "2027-01-01T00:00:00Z",
        "as_of": body["as_of"],
    }
    sign_in(app_client, vendor.api_key, customer)
    text = text_of(app_client.get("/portal").text)
    # 24.00 in the 90 days to April 1 of a 365-day term: 97.33 at that rate.
    assert "Commitment $24.00 of $120.00 Spent: $96.00 remaining in the term ending" in text
    assert "$97.33 projected at the rate so far" in text


def test_rules_simulate_carries_the_terms_spend(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    through_september(engine, vendor)
    issued = sum((invoice.total for invoice in invoices(engine)), Decimal(0))
    proposed = AMOUNT_RULES.replace("version: 1", "version: 3").replace('"120.00"', '"100.00"')
    with Session(engine) as session:
        plan_id = session.exec(select(Plan.id)).one()
    with read_only_session(database_url) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        result = simulate(
            session, plan, load_rules(proposed), YEAR, OCTOBER, datetime(2026, 10, 10, tzinfo=UTC)
        )

    [customer] = result.customers
    # Current: the invoices (40.00 + 14.00 + 30.00 + 47.25 in September).
    assert customer.current == issued == Decimal("131.25")
    # The proposal prices every window at its 4.00: 112.00 spent (28 resolutions), 76.00
    # before September, so 24.00 fit in September and 12.00 are past 100.00 (3.00 more).
    assert customer.proposed == Decimal("112.00") + Decimal("3.00")
