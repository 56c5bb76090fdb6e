"""Margin report benchmark: one month of 1,000,000 events for 1,000 customers in PostgreSQL.

    python bench/margin.py [--events 1000000] [--customers 1000]

Loading is not timed: a child process seeds a vendor, the plan (with token prices) and its
subscribers, COPYs generated events into a fresh `bench_margin` database with the outcome
rows the pure core derives from them, and adds up with the core what the report must find
(every event's cost, by `event_cost`). Two events in three are model calls carrying a cost
(tokens of a priced model, a few of an unpriced one, or a money amount); the rest resolve
conversations (some of them twice) or reopen them. The parent times `margin_report` for the
month and prints its own peak RSS (target under 500 MB; the loading child does not count
in). Attributed + unbilled cost must equal the core's sum of priced costs, to the digit.
Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from common import COST_RULES, customer_ids, rss_mib, sizes_parser
from postgres import copy_events, loaded_database, seed
from sqlmodel import Session

from metering.platform.db.engine import make_engine
from metering.surfaces.reports.service import margin_report
from pricing_rules.costs import event_cost
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_from_label

DATABASE = "bench_margin"
PERIOD = period_from_label("2026-11", "month", "UTC")
AS_OF = PERIOD.end + timedelta(days=1)


def _cost(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.45:
        return {"model": "gpt-4o", "input_tokens": rng.randrange(5000), "output_tokens": 300}
    if roll < 0.9:
        return {"model": "small", "input_tokens": rng.randrange(20000), "output_tokens": 900}
    if roll < 0.92:
        return {"model": "unpriced", "input_tokens": 10, "output_tokens": 10}
    return {"amount": Decimal(rng.randrange(1, 500)).scaleb(-4), "currency": "usd"}


def generate(count: int, customers: int, seed: int = 11) -> Iterator[Event]:
    """Model calls with costs, resolutions (some repeated, some never) and reopens of
    conversations, each conversation belonging to one customer."""
    rng = random.Random(seed)
    span = int((PERIOD.end - PERIOD.start).total_seconds()) - 1
    conversations = max(count // 8, 1)
    for n in range(count):
        conversation = rng.randrange(conversations)
        customer = f"customer-{conversation % customers:04d}"
        at = PERIOD.start + timedelta(seconds=rng.randrange(span))
        props = {"conversation_id": f"c{conversation}"}
        roll = rng.random()
        if roll < 0.67:
            yield Event(f"e{n}", "model.call", customer, at, props, _cost(rng))
        elif roll < 0.95:
            yield Event(f"e{n}", "conversation.resolved", customer, at, props)
        else:
            yield Event(f"e{n}", "conversation.reopened", customer, at, props)


def load(url: str, events: int, customers: int, expected: Any) -> None:
    """In the child: seed, COPY events and their outcome rows, sum the costs with the core."""
    seeded = seed(url, COST_RULES, "bench.yaml", customer_ids(customers), PERIOD.start)
    rules = load_rules(COST_RULES, "bench.yaml")
    copy_events(url, seeded, generate(events, customers), AS_OF, (rules, PERIOD))
    priced = Decimal(0)
    for event in generate(events, customers):
        cost = event_cost(rules, event.cost)
        if cost is not None and cost.amount is not None:
            priced += cost.amount
    expected.value = f"{seeded.vendor_id} {priced}"


def main() -> None:
    parser = sizes_parser(__doc__)
    args = parser.parse_args()
    with loaded_database(DATABASE, load, args.events, args.customers) as (url, expected):
        vendor_id, core_cost = expected.split()
        engine = make_engine(url)
        before = rss_mib()
        began = time.perf_counter()
        with Session(engine) as session:
            report = margin_report(session, vendor_id, "2026-11", AS_OF)
        elapsed = time.perf_counter() - began
        engine.dispose()
        (totals,) = report.totals
        print(f"margin report of {len(report.customers):,} customers: {elapsed:.1f} s")
        print(f"{args.events / elapsed:,.0f} events per second")
        print(f"peak RSS: {rss_mib():.0f} MiB (before the report {before:.0f} MiB; target 500)")
        print(
            f"revenue {totals.revenue}, attributed cost {totals.attributed_cost}, unbilled "
            f"{totals.unbilled_cost}, unpriced events {totals.unpriced_events}"
        )
        print(f"cost {totals.cost}, core {core_cost}")
        if totals.cost != Decimal(core_cost):
            raise SystemExit("the report's cost is not the core's sum of event costs")


if __name__ == "__main__":
    main()
