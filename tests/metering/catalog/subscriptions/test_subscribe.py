"""Subscribing and changing plans: where subscriptions start and end, and which version and
period every outcome row ends up in (service level, fixed clocks, both databases)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from metering.catalog.subscriptions.schemas import Effective
from metering.platform.api.problems import ProblemError
from tests.metering.catalog.subscriptions.support import (
    outcome_rows,
    plan_with_versions,
    reopen,
    resolution,
    rules,
    send,
    spans,
    stale_marks,
    subscribe,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import table


def test_a_first_subscription_starts_at_the_current_period_and_derives_its_events(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_with_versions(engine, vendor.id, 2)
    send(engine, vendor.id, "2026-11-10T00:00", resolution("r0", "2026-10-30T09:00"))
    assert send(engine, vendor.id, "2026-11-10T00:00", resolution("r1", "2026-11-02T09:00")) == [
        "unmatched"
    ]
    (acme,) = [customer_id for (customer_id,) in table(engine, "customers", "id")]
    change = subscribe(engine, vendor.id, acme, "2026-11-10T12:00")
    assert (change.changed, change.rederived) == (True, 1)
    assert spans(engine) == [(2, "2026-11-01T00:00", None)]
    # October is before the subscription: that event stays unmatched, without rows.
    assert outcome_rows(engine) == [
        ("r1", 2, "2026-11-01T00:00", "2026-12-01T00:00", "counted"),
    ]
    statuses = dict(table(engine, "events", "event_id", "status"))
    assert statuses == {"r0": "unmatched", "r1": "counted"}
    again = subscribe(engine, vendor.id, acme, "2026-11-11T00:00", version=2)
    assert again.changed is False
    assert spans(engine) == [(2, "2026-11-01T00:00", None)]


def test_a_first_subscription_in_the_past_marks_its_ended_periods_stale(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_with_versions(engine, vendor.id, 1)
    send(
        engine,
        vendor.id,
        "2026-11-10T00:00",
        resolution("r1", "2026-09-15T09:00"),
        resolution("r2", "2026-11-02T09:00", "c-2"),
    )
    (acme,) = [customer_id for (customer_id,) in table(engine, "customers", "id")]
    subscribe(engine, vendor.id, acme, "2026-11-10T12:00", starts_at="2026-09-01T00:00")
    assert [(e, s) for e, _, s, _, _ in outcome_rows(engine)] == [
        ("r1", "2026-09-01T00:00"),
        ("r2", "2026-11-01T00:00"),
    ]
    assert stale_marks(engine) == [("2026-09-01T00:00", 1)]


def test_next_period_change_is_pending_until_the_boundary(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_id = plan_with_versions(engine, vendor.id, 1)
    acme = create_customer(engine, vendor.id, "acme", plan_id, starts_at=None)
    plan_with_versions(engine, vendor.id, 3)  # versions 2 and 3 (1 is stored already)
    change = subscribe(engine, vendor.id, acme, "2026-11-10T12:00", version=2)
    assert change.changed
    assert spans(engine) == [
        (1, "2020-01-01T00:00", "2026-12-01T00:00"),
        (2, "2026-12-01T00:00", None),
    ]
    # A second change replaces the pending one; the same again changes nothing.
    subscribe(engine, vendor.id, acme, "2026-11-11T00:00", version=3)
    assert subscribe(engine, vendor.id, acme, "2026-11-12T00:00", version=3).changed is False
    assert spans(engine) == [
        (1, "2020-01-01T00:00", "2026-12-01T00:00"),
        (3, "2026-12-01T00:00", None),
    ]
    send(
        engine,
        vendor.id,
        "2026-12-03T00:00",
        resolution("r1", "2026-11-30T23:00"),
        resolution("r2", "2026-12-01T01:00"),
    )
    assert outcome_rows(engine) == [
        ("r1", 1, "2026-11-01T00:00", "2026-12-01T00:00", "counted"),
        ("r2", 3, "2026-12-01T00:00", "2027-01-01T00:00", "counted"),
    ]
    # Asking for the version in force cancels the pending change.
    subscribe(engine, vendor.id, acme, "2026-11-20T00:00", version=1)
    assert spans(engine) == [(1, "2020-01-01T00:00", None)]


def test_immediate_change_splits_the_period_and_dedupes_each_part(
    engine: Engine, vendor: VendorFixture
) -> None:
    plan_id = plan_with_versions(engine, vendor.id, 2)
    acme = create_customer(engine, vendor.id, "acme", plan_id)  # on version 2
    send(
        engine,
        vendor.id,
        "2026-11-10T00:00",
        resolution("r1", "2026-11-02T09:00"),
        resolution("r2", "2026-11-09T09:00"),  # c-1 again: a duplicate in November
    )
    change = subscribe(
        engine, vendor.id, acme, "2026-11-10T12:00", version=1, effective=Effective.IMMEDIATELY
    )
    assert change.rederived == 2
    assert spans(engine) == [
        (2, "2020-01-01T00:00", "2026-11-10T12:00"),
        (1, "2026-11-10T12:00", None),
    ]
    send(engine, vendor.id, "2026-11-13T00:00", resolution("r3", "2026-11-12T09:00"))
    # The rows before the change now belong to the first part of the split period; c-1
    # resolved again in the second part counts there, under the new version.
    assert outcome_rows(engine) == [
        ("r1", 2, "2026-11-01T00:00", "2026-11-10T12:00", "counted"),
        ("r2", 2, "2026-11-01T00:00", "2026-11-10T12:00", "duplicate"),
        ("r3", 1, "2026-11-10T12:00", "2026-12-01T00:00", "counted"),
    ]
    # The first part ended at the change: its rows were rewritten, so it is marked (the
    # close of that part clears the mark).
    assert stale_marks(engine) == [("2026-11-01T00:00", 1)]
    # Back to version 2 at once: a third part, the first two keep their rows.
    subscribe(
        engine, vendor.id, acme, "2026-11-20T00:00", version=2, effective=Effective.IMMEDIATELY
    )
    assert spans(engine)[-1] == (2, "2026-11-20T00:00", None)
    assert [(e, v, s, p) for e, v, s, p, _ in outcome_rows(engine)] == [
        ("r1", 2, "2026-11-01T00:00", "2026-11-10T12:00"),
        ("r2", 2, "2026-11-01T00:00", "2026-11-10T12:00"),
        ("r3", 1, "2026-11-10T12:00", "2026-11-20T00:00"),
    ]


def test_reversal_across_an_immediate_change_keeps_its_effect(
    engine: Engine, vendor: VendorFixture
) -> None:
    """A reopen stored after the change still reverses the resolution made before it."""
    plan_id = plan_with_versions(engine, vendor.id, 2)
    acme = create_customer(engine, vendor.id, "acme", plan_id)
    send(engine, vendor.id, "2026-11-10T00:00", resolution("r1", "2026-11-09T09:00"))
    send(engine, vendor.id, "2026-11-10T13:00", reopen("o1", "2026-11-10T12:30"))
    subscribe(
        engine, vendor.id, acme, "2026-11-10T12:00", version=1, effective=Effective.IMMEDIATELY
    )
    assert [(e, st) for e, _, _, _, st in outcome_rows(engine)] == [("r1", "reversed")]
    assert dict(table(engine, "events", "event_id", "status")) == {
        "o1": "reversal",
        "r1": "reversed",
    }


def test_refusals_are_explained(engine: Engine, vendor: VendorFixture) -> None:
    plan_id = plan_with_versions(engine, vendor.id, 1)
    acme = create_customer(engine, vendor.id, "acme", plan_id)
    with pytest.raises(ProblemError) as started:
        subscribe(engine, vendor.id, acme, "2026-11-10T00:00", starts_at="2026-11-01T00:00")
    assert started.value.status == 422
    assert started.value.detail.startswith("starts_at: only a first subscription takes a start")
    with pytest.raises(ProblemError) as missing:
        subscribe(engine, vendor.id, acme, "2026-11-10T00:00", version=9)
    assert (missing.value.status, missing.value.detail) == (
        404,
        "No version 9 of plan 'support-agent'.",
    )
    with pytest.raises(ProblemError) as unknown:
        subscribe(engine, vendor.id, acme, "2026-11-10T00:00", plan="nope")
    assert (unknown.value.status, unknown.value.detail) == (404, "No plan 'nope'.")
    assert spans(engine) == [(1, "2020-01-01T00:00", None)]


def test_moving_to_another_plan_at_the_next_period(engine: Engine, vendor: VendorFixture) -> None:
    plan_id = plan_with_versions(engine, vendor.id, 1)
    acme = create_customer(engine, vendor.id, "acme", plan_id)
    create_plan(
        engine,
        vendor.id,
        rules(1, "5.00", slug="premium-agent").replace("interval: month", "interval: week"),
    )
    subscribe(engine, vendor.id, acme, "2026-11-10T12:00", plan="premium-agent")
    assert [(start, end) for _, start, end in spans(engine)] == [
        ("2020-01-01T00:00", "2026-12-01T00:00"),
        ("2026-12-01T00:00", None),
    ]
    send(engine, vendor.id, "2026-12-09T00:00", resolution("r1", "2026-12-02T09:00"))
    send(engine, vendor.id, "2026-12-09T00:00", resolution("r2", "2026-12-08T09:00"))
    # Weekly periods from the change on: the first one is cut at December 1 (a Tuesday).
    assert [(e, s, p) for e, _, s, p, _ in outcome_rows(engine)] == [
        ("r1", "2026-12-01T00:00", "2026-12-07T00:00"),
        ("r2", "2026-12-07T00:00", "2026-12-14T00:00"),
    ]
    plans = table(
        engine,
        "outcomes o JOIN plan_versions v ON v.id = o.plan_version_id "
        "JOIN plans p ON p.id = v.plan_id",
        "p.slug",
    )
    assert plans == [("premium-agent",), ("premium-agent",)]
