"""Periods that have ended are marked stale when their outcome rows change, and only then."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.events.service import void
from tests.metering.catalog.subscriptions.support import (
    at,
    outcome_rows,
    plan_with_versions,
    reopen,
    resolution,
    send,
    stale_marks,
)
from tests.metering.conftest import VendorFixture, create_customer


def test_events_in_an_open_period_mark_nothing(engine: Engine, vendor: VendorFixture) -> None:
    create_customer(engine, vendor.id, "acme", plan_with_versions(engine, vendor.id, 1))
    send(engine, vendor.id, "2026-11-10T00:00", resolution("r1", "2026-11-02T09:00"))
    send(engine, vendor.id, "2026-11-10T00:00", reopen("o1", "2026-11-03T09:00"))
    assert stale_marks(engine) == []


def test_a_batch_into_an_ended_period_marks_it_once(engine: Engine, vendor: VendorFixture) -> None:
    create_customer(engine, vendor.id, "acme", plan_with_versions(engine, vendor.id, 1))
    statuses = send(
        engine,
        vendor.id,
        "2026-11-10T00:00",
        resolution("r1", "2026-10-02T09:00"),
        resolution("r2", "2026-10-03T09:00", "c-2"),
        resolution("r3", "2026-11-02T09:00", "c-3"),
    )
    assert statuses == ["counted", "counted", "counted"]
    assert stale_marks(engine) == [("2026-10-01T00:00", 1)]
    # A reopen that reverses an October outcome marks October again (a new generation).
    send(engine, vendor.id, "2026-11-11T00:00", reopen("o1", "2026-11-05T09:00", "c-2"))
    assert [(e, st) for e, _, _, _, st in outcome_rows(engine)] == [
        ("r1", "counted"),
        ("r2", "reversed"),
        ("r3", "counted"),
    ]
    assert stale_marks(engine) == [("2026-10-01T00:00", 2)]


def test_voiding_an_event_of_an_ended_period_marks_it(
    engine: Engine, vendor: VendorFixture
) -> None:
    create_customer(engine, vendor.id, "acme", plan_with_versions(engine, vendor.id, 1))
    send(engine, vendor.id, "2026-10-20T00:00", resolution("r1", "2026-10-02T09:00"))
    send(engine, vendor.id, "2026-10-20T00:00", resolution("r2", "2026-10-12T09:00"))
    assert stale_marks(engine) == []
    with Session(engine) as session:
        void(session, vendor.id, "r1", "test traffic", now=at("2026-11-20T00:00"))
        session.commit()
    # r2 takes over the key: both rows changed in a period that has ended.
    assert [(e, st) for e, _, _, _, st in outcome_rows(engine)] == [
        ("r1", "voided"),
        ("r2", "counted"),
    ]
    assert stale_marks(engine) == [("2026-10-01T00:00", 1)]
