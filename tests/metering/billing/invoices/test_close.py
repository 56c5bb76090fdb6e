"""Closing a period: the invoice a customer gets, to the cent, numbered, once (both DBs)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.catalog.subscriptions.models import Subscription
from metering.ledger.outcomes.models import StalePeriod
from tests.metering.billing.invoices.helpers import (
    NOVEMBER,
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    invoices,
    lines,
    payment_link,
    resolution,
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor

CAPPED = RULES.replace('minimum: "25.00"', 'maximum: "30.00"')


def test_a_closed_period_is_priced_line_by_line(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    events.append(resolution("dup", at(20), "c1"))  # the same conversation again
    phone = resolution("phone", at(21), "c-phone")
    phone["properties"]["channel"] = "phone"  # not an outcome
    events += [
        phone,
        deal("d1", at(3), "1000.50"),
        deal("d2", at(4), "20"),
        deal("d3", at(5), "5000"),
    ]
    send(engine, vendor.id, events, at(25))

    report = close(engine, at(5, month=11))

    [invoice] = invoices(engine)
    assert [(i.id, i.number) for i in report.invoices] == [(invoice.id, 1)]
    assert summary(engine, invoice.id) == [
        # 8 conversations, 2 free: 5 at 0.99 and 1 at 0.79
        ("charge", "resolved_conversation (graduated)", "5.74"),
        # 15.0075 + 1.00 (per-event minimum) + 50.00 (per-event maximum)
        ("charge", "pipeline_value (percentage)", "66.01"),
        ("charge", "Platform fee", "20.00"),
    ]
    assert invoice.total == Decimal("91.75")
    assert invoice.status == "issued"
    assert (invoice.period_start, invoice.period_end) == (OCTOBER, NOVEMBER)
    assert invoice.as_of == NOVEMBER + timedelta(hours=72)
    assert invoice.issued_at == at(5, month=11)
    # Due at once for its customer's payment provider, fixed when the invoice is issued.
    link = payment_link(engine, invoice.id)
    assert (link.provider, link.step, link.next_attempt_at) == (
        "stripe",
        "not_started",
        at(5, month=11),
    )
    assert invoice.collection_method == "charge_automatically"
    assert invoice.due_at is None
    first = lines(engine, invoice.id)[0]
    assert len(first.outcome_ids) == 8
    assert first.detail["tiers"][0]["units"] == "5"
    with Session(engine) as session:
        [subscription] = session.exec(select(Subscription)).all()
        assert subscription.billed_through == NOVEMBER


def test_minimum_true_up_and_cap(engine: Engine, vendor: VendorFixture) -> None:
    minimum_plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "small", minimum_plan, starts_at=OCTOBER)
    capped_plan = create_plan(engine, vendor.id, CAPPED.replace("support-agent", "capped"))
    create_customer(engine, vendor.id, "big", capped_plan, starts_at=OCTOBER)
    send(
        engine,
        vendor.id,
        [resolution("s1", at(2), "c1", "small"), deal("b1", at(2), "4000", "big")],
        at(25),
    )

    close(engine, at(5, month=11))

    by_customer = {_external(engine, i.customer_id): i for i in invoices(engine)}
    assert summary(engine, by_customer["small"].id)[-1] == (
        "minimum",
        "Minimum spend true-up",
        "5.00",
    )
    assert by_customer["small"].total == Decimal("25.00")
    assert summary(engine, by_customer["big"].id)[-2:] == [
        ("charge", "Platform fee", "20.00"),
        ("maximum", "Period cap", "-40.00"),  # 50.00 (per-event max) + 20.00 down to 30
    ]
    assert by_customer["big"].total == Decimal("30.00")


def test_nothing_is_due_before_the_late_window_has_passed(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    assert close(engine, NOVEMBER + timedelta(hours=71)).invoices == []
    assert len(close(engine, NOVEMBER + timedelta(hours=72)).invoices) == 1


def test_closing_catches_up_period_by_period_and_twice_is_a_no_op(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=at(15, month=8))
    send(engine, vendor.id, [resolution("r1", at(3, month=9), "c1")], at(25))

    first = close(engine, at(5, month=11))
    again = close(engine, at(5, month=11))

    found = invoices(engine)
    assert [(i.number, i.period_start, i.period_end) for i in found] == [
        (1, at(15, month=8), at(1, 0, month=9)),  # the subscription started mid-August
        (2, at(1, 0, month=9), OCTOBER),
        (3, OCTOBER, NOVEMBER),
    ]
    assert len(first.invoices) == 3
    assert again.invoices == []
    assert len(invoices(engine)) == 3


def test_numbers_have_no_gaps_per_vendor(engine: Engine, vendor: VendorFixture) -> None:
    other = create_vendor(engine, "Other AI")
    for owner, names in ((vendor.id, ["a", "b", "c"]), (other.id, ["x", "y"])):
        plan = create_plan(engine, owner, RULES)
        for name in names:
            create_customer(engine, owner, name, plan, starts_at=OCTOBER)

    close(engine, at(5, month=11))
    close(engine, at(5, month=12))

    numbers: dict[str, list[int]] = {}
    for invoice in invoices(engine):
        assert invoice.number is not None
        numbers.setdefault(invoice.vendor_id, []).append(invoice.number)
    assert sorted(numbers[vendor.id]) == list(range(1, 7))
    assert sorted(numbers[other.id]) == list(range(1, 5))


def test_send_invoice_customers_get_a_due_date(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.collection_method = "send_invoice"
        customer.days_until_due = 14
        session.add(customer)
        session.commit()

    close(engine, at(5, month=11))

    [invoice] = invoices(engine)
    assert invoice.collection_method == "send_invoice"
    assert invoice.due_at == at(19, month=11)


def test_outcomes_pending_at_the_close_are_billed_by_the_next_one(
    engine: Engine, vendor: VendorFixture
) -> None:
    slow = RULES.replace("after: 24h", "after: 96h")
    plan = create_plan(engine, vendor.id, slow)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(5)]
    events.append(resolution("last", at(31, 6), "c-last"))  # settles Nov 4 06:00
    send(engine, vendor.id, events, at(31, 7))

    close(engine, at(5, month=11))

    [october] = invoices(engine)
    assert summary(engine, october.id)[0] == ("charge", "resolved_conversation (graduated)", "2.97")
    with Session(engine) as session:
        marks = session.exec(select(StalePeriod)).all()
        assert [(m.period_start, m.generation) for m in marks] == [(OCTOBER, 1)]

    close(engine, at(5, month=12))

    november = invoices(engine)[1]
    # October was at its minimum (25.00): the late unit moves money from the true-up.
    assert summary(engine, november.id)[-2:] == [
        ("adjustment", "Adjustment for 2026-10: resolved_conversation (graduated)", "0.99"),
        ("adjustment", "Adjustment for 2026-10: Minimum spend true-up", "-0.99"),
    ]
    adjustment = lines(engine, november.id)[-2]
    assert adjustment.corrects_invoice_id == october.id
    assert (adjustment.period_start, adjustment.period_end) == (OCTOBER, NOVEMBER)
    assert len(adjustment.outcome_ids) == 1
    with Session(engine) as session:
        assert session.exec(select(StalePeriod)).all() == []


def _external(engine: Engine, customer_id: str) -> str:
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer.external_id


def test_a_period_invoiced_already_is_passed_over(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    close(engine, at(5, month=11))
    with Session(engine) as session:  # an operator rewinds the subscription by hand
        [subscription] = session.exec(select(Subscription)).all()
        subscription.billed_through = None
        session.add(subscription)
        session.commit()

    report = close(engine, at(5, month=12))

    assert [(i.number, i.period_start) for i in invoices(engine)] == [(1, OCTOBER), (2, NOVEMBER)]
    assert [i.period_start for i in report.invoices] == [NOVEMBER]


def test_a_plan_changed_mid_period_bills_each_part_by_its_version(
    engine: Engine, vendor: VendorFixture
) -> None:
    from metering.catalog.subscriptions.schemas import Effective
    from metering.catalog.vendors.models import Vendor
    from metering.ledger.plan_changes.service import subscribe

    plan = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    higher_fee = RULES.replace("version: 1", "version: 2").replace("20.00", "50.00")
    create_plan(engine, vendor.id, higher_fee)
    send(engine, vendor.id, [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(6)], at(10))
    with Session(engine) as session:
        owner = session.get(Vendor, vendor.id)
        customer = session.get(Customer, customer_id)
        assert owner is not None and customer is not None
        subscribe(session, owner, customer, "support-agent", 2, Effective.IMMEDIATELY, now=at(10))
        session.commit()
    # The same conversation before and after the change: one outcome in each part.
    send(engine, vendor.id, [resolution("again", at(12), "c0")], at(12))

    close(engine, at(5, month=11))

    first, second = invoices(engine)
    assert (first.period_start, first.period_end) == (OCTOBER, at(10))
    assert (second.period_start, second.period_end) == (at(10), NOVEMBER)
    assert first.plan_version_id != second.plan_version_id
    assert summary(engine, first.id) == [
        ("charge", "resolved_conversation (graduated)", "3.96"),  # 6, 2 free
        ("charge", "pipeline_value (percentage)", "0.00"),
        ("charge", "Platform fee", "20.00"),
        ("minimum", "Minimum spend true-up", "1.04"),
    ]
    assert summary(engine, second.id) == [
        ("charge", "resolved_conversation (graduated)", "0.00"),  # 1, free
        ("charge", "pipeline_value (percentage)", "0.00"),
        ("charge", "Platform fee", "50.00"),
    ]


def test_a_subscription_changed_after_it_was_found_due_is_left_for_the_next_run(
    engine: Engine, vendor: VendorFixture
) -> None:
    from metering.billing.invoices.close import CloseReport, _close_batch, due_periods

    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    now = at(5, month=11)
    with Session(engine) as session:
        due = due_periods(session, now)
        [subscription] = session.exec(select(Subscription)).all()
        subscription.ends_at = at(20)  # a plan change lands in between
        session.add(subscription)
        session.commit()

    assert _close_batch(engine, due, now, CloseReport()) == 0
    assert invoices(engine) == []
    close(engine, now)
    assert [(i.period_start, i.period_end) for i in invoices(engine)] == [(OCTOBER, at(20))]
