"""Outcome rows end in the same state whatever order the events arrive in (both databases)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.repository import latest_version
from metering.catalog.subscriptions.models import Subscription
from metering.ledger.events.service import void
from metering.ledger.outcomes.models import Outcome
from metering.ledger.outcomes.service import rederive_customer
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.ledger.events.helpers import ingest_all, reopen_event, resolved, table

NOW = datetime(2026, 11, 10, tzinfo=UTC)


def resolution(event_id: str, at: str, conversation: str = "c-1") -> dict[str, Any]:
    return resolved(event_id, conversation, timestamp=f"2026-11-02T{at}:00Z")


def reopen(event_id: str, at: str, conversation: str = "c-1") -> dict[str, Any]:
    return reopen_event(event_id, conversation, timestamp=f"2026-11-02T{at}:00Z")


def send(engine: Engine, vendor_id: str, *events: dict[str, Any]) -> None:
    ingest_all(engine, vendor_id, list(events), NOW)


def state(engine: Engine) -> dict[str, tuple[str, list[str]]]:
    """Each event's status and the states of its outcome rows."""
    statuses = dict(table(engine, "events", "event_id", "status"))
    rows: dict[str, list[str]] = {event_id: [] for event_id in statuses}
    for event_id, row_state in table(engine, "outcomes", "event_id", "state", order="id"):
        rows[event_id].append(row_state)
    return {event_id: (statuses[event_id], rows[event_id]) for event_id in sorted(statuses)}


Span = tuple[datetime | None, datetime | None]


def spans(engine: Engine) -> dict[str, Span]:
    """Each outcome row's counted span (when it bills, as of any instant), by event."""
    with Session(engine) as session:
        rows = session.exec(select(Outcome)).all()
        return {row.event_id: (row.counted_from, row.counted_until) for row in rows}


def nov2(at: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-02T{at}:00+00:00")


STORY = [
    resolution("r1", "09:00"),  # reversed by the reopen at 09:30
    reopen("o1", "09:30"),
    resolution("r2", "10:00"),  # resolved again after the reopen: counts
    resolution("r3", "10:30"),  # the same conversation again: a duplicate
]
STORY_END = {
    "o1": ("reversal", []),
    "r1": ("reversed", ["reversed"]),
    "r2": ("counted", ["counted"]),
    "r3": ("duplicate", ["duplicate"]),
}
STORY_SPANS = {
    "r1": (nov2("09:00"), nov2("09:30")),  # billed until the reopen
    "r2": (nov2("10:00"), None),
    "r3": (None, None),
}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_arrival_order_ends_in_the_same_state(
    engine: Engine, vendor: VendorFixture, plan_id: str, order: tuple[int, ...]
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    for index in order:
        send(engine, vendor.id, STORY[index])
    assert state(engine) == STORY_END
    assert spans(engine) == STORY_SPANS


def test_one_batch_in_reverse_order_ends_in_the_same_state(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, *reversed(STORY))
    assert state(engine) == STORY_END
    assert spans(engine) == STORY_SPANS


def test_a_reopen_before_the_resolution_it_follows_cancels_it(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, reopen("o1", "09:30"))
    assert state(engine) == {"o1": ("reversal", [])}
    send(engine, vendor.id, resolution("r1", "09:00"))
    assert state(engine) == {"o1": ("reversal", []), "r1": ("reversed", ["reversed"])}
    # A reopen that happened before a resolution does not cancel it.
    send(engine, vendor.id, resolution("r2", "11:00"))
    assert state(engine)["r2"] == ("counted", ["counted"])


def test_voiding_the_counted_outcome_promotes_the_next_candidate(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, resolution("r1", "09:00"), resolution("r2", "10:00"))
    assert state(engine) == {"r1": ("counted", ["counted"]), "r2": ("duplicate", ["duplicate"])}
    with Session(engine) as session:
        void(session, vendor.id, "r1", "test traffic", NOW)
        session.commit()
    assert state(engine) == {"r1": ("voided", ["voided"]), "r2": ("counted", ["counted"])}
    # r1 billed until its void was recorded, r2 from then on.
    assert spans(engine) == {"r1": (nov2("09:00"), NOW), "r2": (NOW, None)}
    assert table(engine, "event_voids", "reason") == [("test traffic",)]
    # A late duplicate still loses to r2, the earliest live candidate.
    send(engine, vendor.id, resolution("r3", "11:00"))
    assert state(engine)["r3"] == ("duplicate", ["duplicate"])


def test_voiding_a_reopen_restores_the_outcome_it_reversed(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, resolution("r1", "09:00"), reopen("o1", "09:30"))
    assert state(engine)["r1"] == ("reversed", ["reversed"])
    with Session(engine) as session:
        void(session, vendor.id, "o1", "sent twice by a bug", NOW)
        session.commit()
    assert state(engine) == {"o1": ("voided", []), "r1": ("counted", ["counted"])}
    # Reversed from 09:30 until the void: of its two spans, r1 keeps the latest.
    assert spans(engine) == {"r1": (NOW, None)}
    assert table(engine, "outcome_reversals", "match_key", "voided") == [("c-1", True)]


def test_deriving_again_keeps_what_voided_events_counted_before_their_void(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, resolution("r1", "09:00"), resolution("r2", "10:00"))
    with Session(engine) as session:
        void(session, vendor.id, "r1", "test traffic", NOW)
        session.commit()
    before = (state(engine), spans(engine))

    with Session(engine) as session:
        customer = session.exec(select(Customer)).one()
        assert rederive_customer(session, customer, NOW + timedelta(days=1)) == 2
        session.commit()

    assert (state(engine), spans(engine)) == before
    assert before[1] == {"r1": (nov2("09:00"), NOW), "r2": (NOW, None)}


def test_events_before_a_plan_are_derived_when_one_is_attached(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    send(engine, vendor.id, resolution("r1", "09:00"), reopen("o1", "09:30"))
    send(engine, vendor.id, resolution("r2", "10:00"), resolution("r3", "10:30"))
    assert {status for status, _ in state(engine).values()} == {"unmatched"}
    with Session(engine) as session:
        customer = session.exec(select(Customer)).one()
        assert customer.status == "unprovisioned"
        version = latest_version(session, plan_id)
        assert version is not None
        session.add(
            Subscription(
                id="sub_1",
                vendor_id=vendor.id,
                customer_id=customer.id,
                plan_id=plan_id,
                plan_version_id=version.id,
                starts_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )
        session.flush()
        assert rederive_customer(session, customer, NOW) == 4
        session.commit()
    assert state(engine) == STORY_END
    assert {pv for (pv,) in table(engine, "events", "plan_version_id")} == {
        pv for (pv,) in table(engine, "plan_versions", "id")
    }


def test_the_database_refuses_two_counted_rows_for_one_key(
    engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, resolution("r1", "09:00"), resolution("r2", "10:00"))
    with engine.connect() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(sa.text("UPDATE outcomes SET state = 'counted'"))
    assert state(engine)["r2"] == ("duplicate", ["duplicate"])
