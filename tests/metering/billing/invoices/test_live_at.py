"""Rating a period as of several instants in one pass (`rate_live_at`, the portal overview's
"now" and "once every pending outcome settles") gives exactly what rating it as of each
instant alone gives: lines to the cent, and each outcome's tally (billable, pending, next to
settle, changes after, sums), with tiers, percentages of values, reversals between the
instants and `group_by` dimensions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.live import LiveRating, rate_live, rate_live_at
from metering.billing.invoices.periods import subscription_period
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    deal,
    iso,
    reopen,
    resolution,
)
from tests.metering.billing.invoices.test_group_by import PER_MODEL, task
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import ingest_all

INSTANTS = [at(20, 12), at(21, 18), at(23, 0)]


def support_events() -> list[dict[str, Any]]:
    events = [resolution(f"r{n}", at(5 + n), f"c{n}") for n in range(8)]
    events += [resolution(f"p{n}", at(20, 3 + n), f"pc{n}") for n in range(4)]  # pending at 20th
    events += [resolution(f"q{n}", at(21, 9 + n), f"qc{n}") for n in range(3)]
    events.append(reopen("o1", at(21, 0), "pc1"))  # between the first two instants
    events += [deal("d1", at(10), "400"), deal("d2", at(20, 15), "9000"), deal("d3", at(21), "20")]
    return events


def task_events() -> list[dict[str, Any]]:
    events = [task(f"t{n}", at(3 + n), ("gpt-4o", "claude", None)[n % 3]) for n in range(9)]
    events += [task(f"u{n}", at(21, n), "claude") for n in range(3)]
    reopened = {"id": "x1", "type": "task.reopened", "customer": "acme"}
    events.append({**reopened, "timestamp": iso(at(21, 5)), "properties": {"task_id": "t3"}})
    return events


def shown(rating: LiveRating) -> tuple[Any, ...]:
    lines = [(x.charge_key, x.outcome, x.quantity, x.amount, x.detail) for x in rating.lines]
    tallies = {
        name: (t.billable, t.pending, t.next_settles_at, t.changes_after, t.total, t.largest)
        for name, t in rating.tallies.items()
    }
    groups = {
        (name, value): (g.billable, g.pending, g.total)
        for name, t in rating.tallies.items()
        for value, g in t.groups.items()
    }
    return lines, tallies, groups


@pytest.mark.parametrize(
    ("rules", "events"), [(RULES, support_events), (PER_MODEL, task_events)], ids=["tiers", "group"]
)
def test_one_pass_rates_each_instant_as_rating_it_alone(
    engine: Engine, vendor: VendorFixture, rules: str, events: Any
) -> None:
    customer = create_customer(
        engine, vendor.id, "acme", create_plan(engine, vendor.id, rules), OCTOBER
    )
    ingest_all(engine, vendor.id, events(), at(25))
    with Session(engine) as session:
        (subscription,) = subscriptions.of_customer(session, customer)
        plan = rules_of(session, subscription.plan_version_id)
        period = subscription_period(subscription, plan, at(20))
        together = [r[customer] for r in rate_live_at(session, plan, [customer], period, INSTANTS)]
        alone = [rate_live(session, plan, [customer], period, i)[customer] for i in INSTANTS]
    assert [shown(r) for r in together] == [shown(r) for r in alone]
    assert len({r.total for r in together}) > 1  # the instants do differ
