"""Exclusive and verified outcomes stored, closed and corrected, on SQLite and PostgreSQL:
the Intercom price table, every arrival order, a winner voided after its invoice, a CSAT
rejection after the invoice, confirmations in and out of their window."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome
from metering.surfaces.portal.outcomes import OutcomeFilter
from metering.surfaces.portal.outcomes import page as outcomes_page
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    at,
    close,
    invoices,
    iso,
    send,
    summary,
    void_event,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.disputes.helpers import answer, file_dispute

INTERCOM = """\
plan: intercom
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
exclusive:
  key: properties.conversation_id
  order: [qualification, resolution, handoff]
outcomes:
  qualification: {event: lead.qualified}
  resolution:
    event: conversation.resolved
    settle:
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  handoff: {event: conversation.handed_off}
charges:
  - {name: Qualifications, outcome: qualification, model: per_unit, unit_price: "9.99"}
  - {name: Resolutions, outcome: resolution, model: per_unit, unit_price: "0.99"}
  - {name: Handoffs, outcome: handoff, model: per_unit, unit_price: "0.99"}
"""

VERIFIED = """\
plan: verified
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolution:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      confirmed_by:
        event: resolution.verified
        match: properties.conversation_id
        where: {properties.verdict: {eq: resolved}}
        within: 72h
        otherwise: OTHERWISE
      rejected_by:
        event: csat.submitted
        match: properties.conversation_id
        where: {properties.score: {lte: 3}}
    evidence: [properties.verdict]
charges:
  - {name: Resolutions, outcome: resolution, model: per_unit, unit_price: "0.99"}
"""

KINDS = {
    "q": "lead.qualified",
    "r": "conversation.resolved",
    "h": "conversation.handed_off",
    "o": "conversation.reopened",
    "v": "resolution.verified",
    "s": "csat.submitted",
}


def ev(event_id: str, when: datetime, conv: str, customer: str = "acme", **props: Any) -> dict:
    """An event whose type is told by the first letter of its id (see KINDS)."""
    return {
        "id": event_id,
        "type": KINDS[event_id[0]],
        "customer": customer,
        "timestamp": iso(when),
        "properties": {"conversation_id": conv, **props},
    }


def rows(engine: Engine, customer: str = "acme") -> dict[str, tuple[str, str]]:
    """event id -> (outcome, state) of every outcome row of the customer."""
    with Session(engine) as session:
        found = session.exec(
            select(StoredEvent.event_id, Outcome.outcome, Outcome.state)
            .join(StoredEvent, col(StoredEvent.pk) == col(Outcome.event_pk))
            .where(StoredEvent.customer_external_id == customer)
        ).all()
    return {event_id: (outcome, state) for event_id, outcome, state in found}


def portal_labels(engine: Engine, customer: str, now: datetime) -> dict[str, str]:
    """event id -> the status the customer reads in the portal's outcome list at `now`."""
    with Session(engine) as session:
        found = outcomes_page(session, customer, OutcomeFilter(), now).rows
    return {row.event_id: row.label for row in found}


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return dict(session.exec(select(StoredEvent.event_id, StoredEvent.status)).all())


INTERCOM_EVENTS = [
    ev("r1", at(2), "c-1"),
    ev("q1", at(3), "c-1"),  # c-1: the qualification supersedes the resolution
    ev("h2", at(4), "c-2"),
    ev("r2", at(5), "c-2"),  # c-2: the resolution supersedes the handoff
    ev("h3", at(6), "c-3"),  # c-3: a handoff alone
    ev("r4", at(7), "c-4"),  # c-4: a resolution alone
    ev("h5", at(8), "c-5"),
    ev("r5", at(8, 13), "c-5"),
    ev("q5", at(8, 14), "c-5"),  # c-5: one qualification for all three
]


def test_intercom_table_one_outcome_per_conversation(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, INTERCOM)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, INTERCOM_EVENTS, at(20))
    close(engine, at(5, month=11))

    [october] = invoices(engine)
    assert summary(engine, october.id) == [
        ("charge", "Qualifications", "19.98"),
        ("charge", "Resolutions", "1.98"),
        ("charge", "Handoffs", "0.99"),
    ]
    assert october.total == Decimal("22.95")
    assert rows(engine) == {
        "r1": ("resolution", "superseded"),
        "q1": ("qualification", "counted"),
        "h2": ("handoff", "superseded"),
        "r2": ("resolution", "counted"),
        "h3": ("handoff", "counted"),
        "r4": ("resolution", "counted"),
        "h5": ("handoff", "superseded"),
        "r5": ("resolution", "superseded"),
        "q5": ("qualification", "counted"),
    }
    assert statuses(engine)["r1"] == "superseded"

    # November: the c-1 qualification is voided, so its resolution counts again (a credit of
    # 9.99 and an adjustment of 0.99 on October); c-2's resolution is reopened, so its
    # handoff counts (same price: the charges move, the total does not).
    void_event(engine, vendor.id, "q1", "not a lead", at(3, month=11))
    send(engine, vendor.id, [ev("o2", at(4, month=11), "c-2")], at(4, month=11))
    close(engine, at(5, month=12))
    assert rows(engine)["r1"] == ("resolution", "counted")
    assert rows(engine)["q1"] == ("qualification", "voided")
    assert rows(engine)["r2"] == ("resolution", "reversed")
    assert rows(engine)["h2"] == ("handoff", "counted")
    november = invoices(engine)[1]
    corrections = sorted(line for line in summary(engine, november.id) if line[0] != "charge")
    assert corrections == [
        ("adjustment", "Adjustment for 2026-10: Handoffs", "0.99"),
        ("adjustment", "Adjustment for 2026-10: Resolutions", "0.99"),
        ("credit", "Correction of invoice #1: Qualifications", "-9.99"),
        ("credit", "Correction of invoice #1: Resolutions", "-0.99"),
    ]
    assert november.total == Decimal("-9.00")


SMALL_CASE = [
    ev("h1", at(2), "c-1"),
    ev("r1", at(3), "c-1"),
    ev("o1", at(4), "c-1"),
    ev("q2", at(5), "c-2"),
    ev("r2", at(5), "c-2"),
]


def test_every_arrival_order_stores_the_same_states(engine: Engine, vendor: VendorFixture) -> None:
    """Each order of the small case goes to its own customer, one event at a time."""
    plan = create_plan(engine, vendor.id, INTERCOM)
    orders = list(itertools.permutations(range(len(SMALL_CASE))))
    for n, _ in enumerate(orders):
        create_customer(engine, vendor.id, f"cus-{n}", plan, starts_at=OCTOBER)
    for n, order in enumerate(orders):
        for index in order:
            event = dict(
                SMALL_CASE[index], customer=f"cus-{n}", id=f"{n}-{SMALL_CASE[index]['id']}"
            )
            send(engine, vendor.id, [event], at(20))
    expected = {
        "h1": ("handoff", "counted"),
        "r1": ("resolution", "reversed"),
        "q2": ("qualification", "counted"),
        "r2": ("resolution", "superseded"),
    }
    for n, _ in enumerate(orders):
        found = {eid.split("-", 1)[1]: state for eid, state in rows(engine, f"cus-{n}").items()}
        assert found == expected, orders[n]
    close(engine, at(5, month=11))
    # Every customer: one handoff and one qualification.
    assert {inv.total for inv in invoices(engine)} == {Decimal("10.98")}


def test_a_low_csat_after_the_invoice_is_credited_on_the_next_one(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, VERIFIED.replace("OTHERWISE", "count"))
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(
        engine,
        vendor.id,
        [
            *(ev(f"r{i}", at(i + 1), f"c-{i}") for i in range(5)),
            *(ev(f"v{i}", at(i + 2), f"c-{i}", verdict="resolved") for i in range(5)),
        ],
        at(20),
    )
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert summary(engine, october.id) == [("charge", "Resolutions", "4.95")]

    send(
        engine,
        vendor.id,
        [
            ev("s2", at(8, month=11), "c-2", score=2),  # unhappy: rejected, credited
            ev("s3", at(8, month=11), "c-3", score=5),  # happy: stays billed
        ],
        at(8, month=11),
    )
    assert rows(engine)["r2"] == ("resolution", "rejected")
    assert rows(engine)["r3"] == ("resolution", "counted")
    assert statuses(engine)["r2"] == "rejected"
    close(engine, at(5, month=12))
    november = invoices(engine)[1]
    assert summary(engine, november.id) == [
        ("charge", "Resolutions", "0.00"),
        ("credit", "Correction of invoice #1: Resolutions", "-0.99"),
    ]
    assert november.total == Decimal("-0.99")


def test_confirmations_in_and_out_of_their_window(engine: Engine, vendor: VendorFixture) -> None:
    plan = create_plan(engine, vendor.id, VERIFIED.replace("OTHERWISE", "drop"))
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(
        engine,
        vendor.id,
        [
            ev("r1", at(2), "c-1"),
            ev("v1", at(3), "c-1", verdict="resolved"),  # in time: billed
            ev("r2", at(2), "c-2"),
            ev("v2", at(3), "c-2", verdict="assisted"),  # not a confirmation
            ev("r3", at(2), "c-3"),
            ev("v3", at(5, 13), "c-3", verdict="resolved"),  # 73 hours later: too late
        ],
        at(20),
    )
    assert rows(engine) == {
        "r1": ("resolution", "counted"),
        "r2": ("resolution", "awaiting_verification"),
        "r3": ("resolution", "awaiting_verification"),
    }
    assert statuses(engine)["r2"] == "awaiting_verification"
    assert statuses(engine)["v1"] == "confirmation"
    assert statuses(engine)["v2"] == "unmatched"  # its where does not hold
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert summary(engine, october.id) == [("charge", "Resolutions", "0.99")]


def test_an_accepted_dispute_of_the_winner_promotes_the_next(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, INTERCOM)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, [ev("h1", at(2), "c-1"), ev("q1", at(3), "c-1")], at(20))
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert october.total == Decimal("9.99")

    dispute = file_dispute(engine, customer, "q1", at(6, month=11))
    answer(engine, vendor.id, dispute, accepted=True, now=at(7, month=11))
    assert rows(engine) == {
        "q1": ("qualification", "credited"),
        "h1": ("handoff", "counted"),  # promoted: the conversation still had an outcome
    }
    close(engine, at(5, month=12))
    november = invoices(engine)[1]
    assert sorted(line for line in summary(engine, november.id) if line[0] != "charge") == [
        ("adjustment", "Adjustment for 2026-10: Handoffs", "0.99"),
        ("credit", "Correction of invoice #1: Qualifications", "-9.99"),
    ]
    assert november.total == Decimal("-9.00")


def test_a_conversation_spanning_two_periods_bills_one_outcome_in_each(
    engine: Engine, vendor: VendorFixture
) -> None:
    """Each outcome belongs to the period of its own event: the qualification on Nov 1 does
    not supersede the resolution of Oct 31 (what the README says)."""
    plan = create_plan(engine, vendor.id, INTERCOM)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(
        engine,
        vendor.id,
        [
            ev("h1", at(31, 20), "c-1"),
            ev("r1", at(31, 22), "c-1"),  # October's winner for c-1
            ev("q1", at(1, 1, month=11), "c-1"),  # November's, alone there
        ],
        at(1, 2, month=11),
    )
    assert rows(engine) == {
        "h1": ("handoff", "superseded"),
        "r1": ("resolution", "counted"),
        "q1": ("qualification", "counted"),
    }
    close(engine, at(5, month=11))
    close(engine, at(5, month=12))
    october, november = invoices(engine)
    assert summary(engine, october.id) == [
        ("charge", "Qualifications", "0.00"),
        ("charge", "Resolutions", "0.99"),
        ("charge", "Handoffs", "0.00"),
    ]
    assert (october.total, november.total) == (Decimal("0.99"), Decimal("9.99"))


def test_otherwise_count_bills_an_unconfirmed_outcome_once_its_window_ends(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, VERIFIED.replace("OTHERWISE", "count"))
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(
        engine,
        vendor.id,
        [
            ev("r1", at(2), "c-1"),  # never confirmed: billed from Oct 5 12:00
            ev("r2", at(2), "c-2"),
            ev("v2", at(3), "c-2", verdict="assisted"),  # not a confirmation either
            ev("r3", at(2), "c-3"),
        ],
        at(3),
    )
    send(engine, vendor.id, [ev("s3", at(4), "c-3", score=1)], at(4))  # rejected in its window
    assert rows(engine)["r3"] == ("resolution", "rejected")
    assert portal_labels(engine, customer, at(4)) == {
        "r1": "Awaiting verification",
        "r2": "Awaiting verification",
        "r3": "Rejected",
    }
    assert portal_labels(engine, customer, at(6)) == {
        "r1": "Billable",
        "r2": "Billable",
        "r3": "Rejected",
    }
    close(engine, at(5, month=11))
    [october] = invoices(engine)
    assert summary(engine, october.id) == [("charge", "Resolutions", "1.98")]
