"""Simulation benchmark: a price change on one month of 1,000,000 stored events, PostgreSQL.

    python bench/simulate.py [--events 1000000] [--customers 1000]

Loading is not timed: a child process seeds a vendor, the plan and its subscribers, and
COPYs generated events (resolutions, some on the phone or by a human, repeats, reopens,
scored leads, deals) into a fresh `bench_simulate` database, then prices them with the pure
core (`price_events`) for the expected current total. The parent times
`metering.surfaces.simulation.service.simulate` through a read-only session (the proposal counts
phone resolutions, charges 1.09 from the first unit and drops the reopen reversal), and
prints the time, events per second, the time of only reading the same events (baseline),
its own peak RSS (target under 500 MB; the loading child does not count in) and the
totals. The current total must equal the core's price. Needs the PostgreSQL server at
127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from common import SUPPORT_RULES, customer_ids, rss_mib, sizes_parser, support_events
from postgres import copy_events, loaded_database, seed
from sqlmodel import select

from metering.catalog.plans.models import Plan
from metering.surfaces.simulation.readonly import read_only_session
from metering.surfaces.simulation.repository import stream_events, subscribers
from metering.surfaces.simulation.schemas import simulation_out
from metering.surfaces.simulation.service import CUSTOMER_BATCH, simulate
from pricing_rules.engine import price_events
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_from_label

DATABASE = "bench_simulate"
PERIOD = period_from_label("2026-11", "month", "UTC")
NOW = PERIOD.end + timedelta(days=5)
RULES = SUPPORT_RULES
PROPOSED = (
    RULES.replace("version: 1", "version: 2")
    .replace("{in: [chat, email]}", "{in: [chat, email, phone]}")
    .replace(
        "      reversed_by: {event: conversation.reopened, match: properties.conversation_id}\n",
        "",
    )
    .replace("free_units: 50", "free_units: 0")
    .replace('{up_to: 1000, unit_price: "0.99"}', '{up_to: 1000, unit_price: "1.09"}')
)


def generate(count: int, customers: int) -> Iterator[Event]:
    """Resolutions (some on a human or phone, some repeated), reopens, scored leads, deals."""
    span = int((PERIOD.end - PERIOD.start).total_seconds()) - 1
    return support_events(count, customers, PERIOD.start, span, deals=0.1, seed=11)


def load(url: str, events: int, customers: int, expected: Any) -> None:
    """In the child: seed, COPY the events, price them with the core."""
    seeded = seed(url, RULES, "bench.yaml", customer_ids(customers), PERIOD.start)
    ids = seeded.customer_ids
    copy_events(url, seeded, generate(events, customers), NOW - timedelta(days=4))
    rules = load_rules(RULES, "bench.yaml")
    report = price_events(
        rules, generate(events, customers), PERIOD, PERIOD.end + timedelta(hours=72)
    )
    priced = {c.customer for c in report.customers}
    idle = len(ids) - len(priced)  # no event: the 500.00 minimum all the same
    total = sum((c.invoice.total for c in report.customers), Decimal(0)) + idle * Decimal("500.00")
    expected.value = str(total)


def read_baseline(url: str) -> float:
    """Seconds to stream every event as the simulation does, without pricing them."""
    with read_only_session(url) as session:
        plan = session.exec(select(Plan)).one()
        ids = [s.id for s in subscribers(session, plan.id, PERIOD.start, PERIOD.end)]
        began = time.perf_counter()
        for offset in range(0, len(ids), CUSTOMER_BATCH):
            batch = ids[offset : offset + CUSTOMER_BATCH]
            for _ in stream_events(session, plan.vendor_id, batch, PERIOD.start, NOW):
                pass
        return time.perf_counter() - began


def main() -> None:
    parser = sizes_parser(__doc__)
    args = parser.parse_args()
    with loaded_database(DATABASE, load, args.events, args.customers) as (url, expected):
        proposed = load_rules(PROPOSED, "proposed.yaml")
        baseline = read_baseline(url)
        before = rss_mib()
        began = time.perf_counter()
        with read_only_session(url) as session:
            plan = session.exec(select(Plan)).one()
            result = simulate(session, plan, proposed, PERIOD.start, PERIOD.end, NOW)
        elapsed = time.perf_counter() - began
        out = simulation_out(result)
        print(
            f"simulation of {out.events:,} events, {len(out.customers):,} customers: "
            f"{elapsed:.1f} s ({out.events / elapsed:,.0f} events/s)"
        )
        print(f"baseline, reading the same events: {baseline:.1f} s ({elapsed / baseline:.1f}x)")
        print(f"peak RSS: {rss_mib():.0f} MiB (before the simulation {before:.0f} MiB; target 500)")
        print(
            f"total current {out.total.current} usd (core {expected}), proposed "
            f"{out.total.proposed} usd, {out.total.difference} ({out.total.percent_change} %)"
        )
        for change in out.treatment_changes:
            print(f"  {change.outcome}: {change.current} -> {change.proposed}: {change.events:,}")
        if Decimal(out.total.current) != Decimal(expected):
            raise SystemExit("the current side does not add up to the core's price")


if __name__ == "__main__":
    main()
