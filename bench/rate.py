"""Rating benchmark: close one month of 1,000,000 events for 1,000 customers in PostgreSQL.

    python bench/rate.py [--events 1000000] [--customers 1000] [--deals 0.1] [--plan outcomes]

`--plan outcomes` closes the same traffic under one outcome per conversation by precedence
(`exclusive`), verified resolutions (`confirmed_by`) and prices per AI model (`group_by`),
with verifiers' confirmations.

Loading is not timed: a child process generates the events, derives their outcome rows
with the pure core (classify, then `resolve_key` per dedupe key, as ingestion does) and
COPYs both into a fresh `bench_rate` database (reversal rows are not stored: closing never
reads them). The parent then times `SELECT customer_id, count(*) FROM events GROUP BY
customer_id` as the baseline and the whole close (`close_due`; the plan has graduated,
package, percentage and flat charges and a minimum), and prints the ratio
(target under 10x) and its own peak RSS (target under 500 MB), which the loading child
does not count in. The invoices' grand total is checked against the core's price of the
same events. Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
from common import SUPPORT_RULES, customer_ids, plan_rules, rss_mib, sizes_parser, support_events
from postgres import conninfo, copy_events, loaded_database, seed

from metering.billing.invoices.close import close_due
from metering.platform.db.engine import make_engine
from pricing_rules.engine import price_events
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_from_label

DATABASE = "bench_rate"
PERIOD = period_from_label("2026-11", "month", "UTC")
CLOSE_AT = PERIOD.end + timedelta(days=5)
RULES = SUPPORT_RULES


def generate(count: int, customers: int, deals: float, plan: str) -> Iterator[Event]:
    """Resolutions (some on a human or phone, some repeated), reopens, scored leads, deals;
    with the `outcomes` plan, leads on conversations and verifiers' confirmations."""
    span = int((PERIOD.end - PERIOD.start).total_seconds()) - 1
    verified = plan == "outcomes"
    return support_events(
        count, customers, PERIOD.start, span, deals=deals, seed=7, verified=verified
    )


def load(url: str, events: int, customers: int, deals: float, plan: str, expected: Any) -> None:
    """In the child: seed, COPY events and their outcome rows, price them with the core."""
    text = plan_rules(plan, RULES)
    seeded = seed(url, text, "bench.yaml", customer_ids(customers), PERIOD.start)
    rules = load_rules(text, "bench.yaml")
    received = CLOSE_AT - timedelta(days=4)
    stream = generate(events, customers, deals, plan)
    copy_events(url, seeded, stream, received, (rules, PERIOD))
    report = price_events(
        rules, generate(events, customers, deals, plan), PERIOD, CLOSE_AT - timedelta(days=2)
    )
    expected.value = str(sum((c.invoice.total for c in report.customers), Decimal(0)))


def best_of(runs: int, url: str, sql: str) -> float:
    times = []
    with psycopg.connect(conninfo(url)) as connection, connection.cursor() as cursor:
        for _ in range(runs):
            began = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = sizes_parser(__doc__)
    parser.add_argument(
        "--deals",
        type=float,
        default=0.1,
        help="Share of events that are deals, priced per event by the percentage charge "
        "(each value goes through Python: 0 shows the close of counts and tiers alone).",
    )
    parser.add_argument(
        "--plan",
        choices=["support", "outcomes"],
        default="support",
        help="support: tiers, a package, a percentage; outcomes: one outcome per conversation "
        "by precedence (exclusive), verified resolutions (confirmed_by), prices per model "
        "(group_by).",
    )
    args = parser.parse_args()
    sizes = (args.events, args.customers, 0.0 if args.plan == "outcomes" else args.deals, args.plan)
    # A name of its own per run: other runs of the benchmark may share the server.
    with loaded_database(f"{DATABASE}_{args.plan}_{os.getpid()}", load, *sizes) as (
        url,
        expected,
    ):
        baseline = best_of(3, url, "SELECT customer_id, count(*) FROM events GROUP BY customer_id")
        best_of(1, url, "SELECT count(*) FROM outcomes")  # the same warm cache for both
        engine = make_engine(url)
        before = rss_mib()
        began = time.perf_counter()
        report = close_due(engine, CLOSE_AT)
        elapsed = time.perf_counter() - began
        engine.dispose()
        total = sum((invoice.total for invoice in report.invoices), Decimal(0))
        print(f"baseline GROUP BY count: {baseline:.3f} s")
        print(f"close of {len(report.invoices):,} invoices: {elapsed:.3f} s")
        print(f"close / baseline: {elapsed / baseline:.1f}x (target under 10x)")
        print(f"peak RSS: {rss_mib():.0f} MiB (before the close {before:.0f} MiB; target 500)")
        print(f"grand total {total} usd, core {expected} usd")
        if total != Decimal(expected):
            raise SystemExit("the invoices do not add up to the core's price")


if __name__ == "__main__":
    main()
