"""The close's reconciliation: a recount in SQL gives the very buckets ingestion keeps, and
only customers whose tallies drifted are recounted (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.usage import measure_tallies
from metering.ledger.tallies import repository as tallies
from pricing_rules.loader import load_rules
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.events.helpers import resolved, table
from tests.metering.ledger.limits.helpers import rules, send

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
UNLIMITED = ""


def buckets(engine: Engine) -> list[tuple[object, ...]]:
    columns = ("customer_id", "outcome", "state", "settles_by", "units", "rows")
    return sorted(table(engine, "outcome_tallies", *columns))


def acme_and_globex(engine: Engine, vendor: VendorFixture) -> dict[str, str]:
    plan = create_plan(engine, vendor.id, rules(UNLIMITED))
    ids = {name: create_customer(engine, vendor.id, name, plan) for name in ("acme", "globex")}
    # Settle times on the hour, a minute past, and a microsecond past (settle after 24h).
    send(
        engine,
        vendor.id,
        resolved("a1", "c-1", timestamp="2026-11-02T09:00:00Z", customer="acme"),
        resolved("a2", "c-2", timestamp="2026-11-02T09:01:00Z", customer="acme"),
        resolved("a3", "c-3", timestamp="2026-11-02T09:59:59.000001Z", customer="acme"),
        resolved("g1", "c-1", timestamp="2026-11-03T23:30:00Z", customer="globex"),
    )
    return ids


def test_a_recount_in_sql_gives_the_buckets_ingestion_keeps(
    engine: Engine, vendor: VendorFixture
) -> None:
    ids = acme_and_globex(engine, vendor)
    kept = buckets(engine)
    # (settle hour, rows): a1 settles on the hour, a2 and a3 within the next one.
    assert [(str(row[3])[:16], row[5]) for row in kept] == [
        ("2026-11-03 09:00", 1),
        ("2026-11-03 10:00", 2),
        ("2026-11-05 00:00", 1),
    ]
    with Session(engine) as session:
        tallies.rebuild(session, ids.values(), NOVEMBER)
        session.commit()

    assert buckets(engine) == kept


def test_only_a_drifted_customer_is_recounted(engine: Engine, vendor: VendorFixture) -> None:
    ids = acme_and_globex(engine, vendor)
    kept = buckets(engine)
    with engine.begin() as connection:  # globex's tally drifts (a row changed by hand)
        connection.execute(
            sa.text("UPDATE outcome_tallies SET units = units + 2 WHERE customer_id = :c"),
            {"c": ids["globex"]},
        )
    with Session(engine) as session:
        assert tallies.drifted(session, ids.values(), NOVEMBER) == [ids["globex"]]
        tallies.reconcile(session, ids.values(), NOVEMBER)
        assert tallies.drifted(session, ids.values(), NOVEMBER) == []
        session.commit()

    assert buckets(engine) == kept


def test_the_close_aggregate_gives_the_outcome_side_of_the_check(
    engine: Engine, vendor: VendorFixture
) -> None:
    """What a close gathers from its own aggregate finds what the separate GROUP BY finds."""
    ids = acme_and_globex(engine, vendor)
    plan = load_rules(rules(UNLIMITED), "limited.yaml")
    as_of = datetime(2026, 12, 4, tzinfo=UTC)
    with Session(engine) as session:
        stored = tallies.StoredTotals()
        measure_tallies(session, plan, ids.values(), NOVEMBER, as_of, stored=stored)
        assert tallies.drifted(session, ids.values(), NOVEMBER, stored.totals()) == []
        session.execute(
            sa.text("UPDATE outcome_tallies SET rows = rows + 1 WHERE customer_id = :c"),
            {"c": ids["acme"]},
        )
        found = tallies.drifted(session, ids.values(), NOVEMBER, stored.totals())
        assert found == tallies.drifted(session, ids.values(), NOVEMBER) == [ids["acme"]]
