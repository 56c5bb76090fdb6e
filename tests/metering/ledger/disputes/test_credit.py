"""An accepted dispute credits its outcome, to the cent, whenever the vendor answers."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome
from metering.ledger.outcomes.service import rederive_customer
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    invoices,
    lines,
    resolution,
    send,
    summary,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.disputes.helpers import answer, file_dispute, outcome_row

OCTOBER_EVENTS = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)] + [
    deal("d1", at(3), "1000.50")
]
# 8 conversations, 2 free: 5 at 0.99 and 1 at 0.79; the deal 15.01; the platform fee 20.00
OCTOBER_LINES = [
    ("charge", "resolved_conversation (graduated)", "5.74"),
    ("charge", "pipeline_value (percentage)", "15.01"),
    ("charge", "Platform fee", "20.00"),
]
CREDITED_LINES = [("charge", "resolved_conversation (graduated)", "4.95"), *OCTOBER_LINES[1:]]
NOVEMBER_LINES = [
    ("charge", "resolved_conversation (graduated)", "0.00"),
    ("charge", "pipeline_value (percentage)", "0.00"),
    ("charge", "Platform fee", "20.00"),
    ("minimum", "Minimum spend true-up", "5.00"),
]


def october_sent(engine: Engine, vendor: VendorFixture) -> str:
    plan = create_plan(engine, vendor.id, RULES)
    customer_id = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, OCTOBER_EVENTS, at(25))
    return customer_id


def states(engine: Engine, event_id: str) -> tuple[str, str]:
    """The outcome row's state and the event's status."""
    state = outcome_row(engine, event_id).state
    with Session(engine) as session:
        event = session.exec(select(StoredEvent).where(StoredEvent.event_id == event_id)).one()
        return state, event.status


def test_accepted_before_the_close_leaves_the_outcome_off_the_invoice(
    engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = october_sent(engine, vendor)
    dispute_id = file_dispute(engine, customer_id, "r3", at(26))
    assert states(engine, "r3") == ("counted", "counted")  # an open dispute still bills

    answer(engine, vendor.id, dispute_id, accepted=True, now=at(27))
    close(engine, at(5, month=11))

    assert states(engine, "r3") == ("credited", "credited")
    [october] = invoices(engine)
    assert summary(engine, october.id) == CREDITED_LINES
    assert october.total == Decimal("39.96")


def test_accepted_after_the_invoice_is_a_credit_line_naming_it(
    engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = october_sent(engine, vendor)
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert summary(engine, october.id) == OCTOBER_LINES
    dispute_id = file_dispute(engine, customer_id, "r3", at(8, month=11))

    answer(engine, vendor.id, dispute_id, accepted=True, now=at(10, month=11))
    close(engine, at(5, month=12))

    november = invoices(engine)[1]
    assert summary(engine, november.id) == [
        *NOVEMBER_LINES,
        ("credit", "Correction of invoice #1: resolved_conversation (graduated)", "-0.79"),
    ]
    credit = lines(engine, november.id)[-1]
    assert credit.corrects_invoice_id == october.id
    assert credit.outcome_ids == [outcome_row(engine, "r3").id]
    assert november.total == Decimal("24.21")


def test_rejected_changes_nothing(engine: Engine, vendor: VendorFixture) -> None:
    customer_id = october_sent(engine, vendor)
    close(engine, at(5, month=11))
    dispute_id = file_dispute(engine, customer_id, "r3", at(8, month=11))

    dispute = answer(engine, vendor.id, dispute_id, accepted=False, now=at(10, month=11))
    close(engine, at(5, month=12))

    assert dispute.status == "rejected"
    assert dispute.resolution_note == "It was resolved"
    assert states(engine, "r3") == ("counted", "counted")
    assert summary(engine, invoices(engine)[1].id) == NOVEMBER_LINES


def test_rederiving_keeps_the_credit(engine: Engine, vendor: VendorFixture) -> None:
    customer_id = october_sent(engine, vendor)
    dispute_id = file_dispute(engine, customer_id, "r3", at(26))
    answer(engine, vendor.id, dispute_id, accepted=True, now=at(27))

    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        rederive_customer(session, customer, at(28))
        session.commit()
    close(engine, at(5, month=11))

    assert states(engine, "r3") == ("credited", "credited")
    assert summary(engine, invoices(engine)[0].id) == CREDITED_LINES


def test_a_later_duplicate_of_a_credited_key_is_not_counted(
    engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = october_sent(engine, vendor)
    dispute_id = file_dispute(engine, customer_id, "r3", at(26))
    answer(engine, vendor.id, dispute_id, accepted=True, now=at(27))

    # The same conversation reported again, once later and once earlier than r3.
    send(
        engine,
        vendor.id,
        [resolution("r3-again", at(20), "c3"), resolution("r3-early", at(2), "c3")],
        at(28),
    )
    close(engine, at(5, month=11))

    with Session(engine) as session:
        key_states = sorted(
            session.exec(select(Outcome.state).where(col(Outcome.dedupe_key) == "c3")).all()
        )
    assert key_states == ["credited", "duplicate", "duplicate"]
    assert summary(engine, invoices(engine)[0].id) == CREDITED_LINES


def test_accepted_after_the_period_ended_but_before_its_close(
    engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = october_sent(engine, vendor)
    dispute_id = file_dispute(engine, customer_id, "r3", at(31))

    answer(engine, vendor.id, dispute_id, accepted=True, now=at(2, month=11))
    close(engine, at(5, month=11))
    close(engine, at(5, month=12))

    october, november = invoices(engine)
    assert summary(engine, october.id) == CREDITED_LINES
    assert summary(engine, november.id) == NOVEMBER_LINES  # nothing left to correct
