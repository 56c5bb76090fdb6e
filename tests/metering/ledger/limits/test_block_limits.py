"""Block limits: events always stored, outcomes past a limit over_limit and never billed,
counted again in timestamp order when spend falls back under (both databases)."""

from __future__ import annotations

import importlib.util
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.ledger.events.service import void
from tests.metering.billing.invoices.helpers import close
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.disputes.helpers import answer, file_dispute
from tests.metering.ledger.limits.helpers import (
    NOW,
    counted_rows,
    reopen,
    resolution,
    rules,
    send,
    state,
    tallied,
)

# 4.00 each under a 10.00 block maximum: two fit (8.00), a third would make 12.00.
STORY = [
    resolution("r1", "09:00", "c-1"),
    resolution("r2", "10:00", "c-2"),
    resolution("r3", "11:00", "c-3"),
    reopen("o1", "12:00", "c-1"),  # reverses r1: r3 fits again
]
STORY_END = {
    "o1": ("reversal", []),
    "r1": ("reversed", ["reversed"]),
    "r2": ("counted", ["counted"]),
    "r3": ("counted", ["counted"]),
}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_arrival_order_ends_in_the_same_state(
    engine: Engine, vendor: VendorFixture, order: tuple[int, ...]
) -> None:
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, rules()))
    for index in order:
        send(engine, vendor.id, STORY[index])
    assert state(engine) == STORY_END
    assert tallied(engine) == counted_rows(engine)


def test_the_outcome_that_would_cross_the_limit_is_over_it(
    engine: Engine, vendor: VendorFixture
) -> None:
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, rules()))
    send(engine, vendor.id, *STORY[:3], resolution("r4", "11:30", "c-4"))
    assert state(engine) == {
        "r1": ("counted", ["counted"]),
        "r2": ("counted", ["counted"]),
        "r3": ("over_limit", ["over_limit"]),
        "r4": ("over_limit", ["over_limit"]),
    }
    assert tallied(engine) == counted_rows(engine)
    # The reopen frees 4.00: the earliest held outcome (r3, 11:00) counts, r4 stays held.
    send(engine, vendor.id, STORY[3])
    assert state(engine)["r3"] == ("counted", ["counted"])
    assert state(engine)["r4"] == ("over_limit", ["over_limit"])
    # Voiding r2 frees 4.00 more: r4 counts.
    with Session(engine) as session:
        void(session, vendor.id, "r2", "test traffic", NOW)
        session.commit()
    assert state(engine)["r4"] == ("counted", ["counted"])
    assert tallied(engine) == counted_rows(engine)


def test_a_unit_limit_holds_the_outcomes_past_it(engine: Engine, vendor: VendorFixture) -> None:
    plan = rules(limits="", outcome_extra="    limit: {units: 2, per: period, on_reach: block}\n")
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, plan))
    send(engine, vendor.id, *reversed(STORY[:3]))
    assert state(engine) == {
        "r1": ("counted", ["counted"]),
        "r2": ("counted", ["counted"]),
        "r3": ("over_limit", ["over_limit"]),
    }


def test_notify_and_stop_billing_hold_nothing(engine: Engine, vendor: VendorFixture) -> None:
    for on_reach, name in (("notify", "a"), ("stop_billing", "b")):
        plan = rules(limits=f'maximum: {{amount: "5.00", on_reach: {on_reach}}}').replace(
            "plan: limited", f"plan: limited-{name}"
        )
        create_customer(engine, vendor.id, name, create_plan(engine, vendor.id, plan))
    events = [
        {**resolution(f"{name}{i}", "09:00", f"c-{i}"), "customer": name}
        for name in ("a", "b")
        for i in range(3)
    ]
    send(engine, vendor.id, *events)
    assert {status for status, _ in state(engine).values()} == {"counted"}


@pytest.mark.parametrize("drifted", ["", " WHERE state = 'over_limit'"])
def test_the_close_bills_no_held_outcome_and_reconciles_the_tallies(
    engine: Engine, vendor: VendorFixture, drifted: str
) -> None:
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, rules()))
    send(engine, vendor.id, *STORY[:3])
    with engine.begin() as connection:  # a tally that drifted (say, a row written by hand)
        connection.execute(sa.text(f"UPDATE outcome_tallies SET rows = rows + 5{drifted}"))
    report = close(engine, datetime(2026, 12, 5, tzinfo=UTC))
    assert tallied(engine) == counted_rows(engine)
    # r3 is over the limit: the invoice bills r1 and r2 only, 2 x 4.00.
    november = [
        i.total for i in report.invoices if i.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    ]
    assert november == [Decimal("8.00")]


def test_an_accepted_dispute_makes_room_for_the_earliest_held_outcome(
    engine: Engine, vendor: VendorFixture
) -> None:
    customer_id = create_customer(
        engine, vendor.id, "acme", create_plan(engine, vendor.id, rules())
    )
    send(engine, vendor.id, *STORY[:3], resolution("r4", "10:30", "c-4"))
    # r1 (09:00) and r2 (10:00) count; r4 (10:30) and r3 (11:00) are held.
    assert state(engine)["r4"] == ("over_limit", ["over_limit"])
    dispute = file_dispute(engine, customer_id, "r2", NOW)
    answer(engine, vendor.id, dispute, accepted=True, now=NOW)
    # r2 is credited: 4.00 fits again, and the earliest held one (r4, 10:30) takes it.
    assert state(engine) == {
        "r1": ("counted", ["counted"]),
        "r2": ("credited", ["credited"]),
        "r3": ("over_limit", ["over_limit"]),
        "r4": ("counted", ["counted"]),
    }
    assert tallied(engine) == counted_rows(engine)


def test_the_migration_tallies_the_rows_already_stored(
    engine: Engine, vendor: VendorFixture
) -> None:
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id, rules()))
    send(engine, vendor.id, *STORY[:3], resolution("r4", "11:30", "c-4"))
    expected = counted_rows(engine)
    migration = Path(__file__).parents[4] / "alembic/versions/0022_limits.py"
    spec = importlib.util.spec_from_file_location("limits_migration", migration)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with engine.begin() as connection:  # as the upgrade finds a database with outcomes
        connection.execute(sa.text("DELETE FROM outcome_tallies"))
        with Operations.context(MigrationContext.configure(connection)):
            module._backfill()
    assert tallied(engine) == expected
