"""Rating benchmark: close one month of 1,000,000 events for 1,000 customers in PostgreSQL.

    python bench/rate.py [--events 1000000] [--customers 1000] [--deals 0.1] [--plan outcomes]
                         [--grants 5]

`--plan outcomes` closes the same traffic under one outcome per conversation by precedence
(`exclusive`), verified resolutions (`confirmed_by`) and prices per AI model (`group_by`),
with verifiers' confirmations.

Loading is not timed: a child process generates the events, derives their outcome rows with
the pure core (classify, then `resolve_key` per dedupe key, as ingestion does) and COPYs
both into a fresh `bench_rate` database (reversal rows are not stored: closing never reads
them). The parent then times `SELECT customer_id, count(*) FROM events GROUP BY customer_id`
as the baseline (best of 3) and the whole close (`close_due`, best of 2, the period reopened
between them; the plan has graduated, package, percentage and flat charges and a minimum),
and prints the ratio (target under 10x) and its own peak RSS (target under 500 MB), which
the loading child does not count in. The invoices' grand total is checked against the core's
price of the same events. With `--grants N`, each customer also gets N prepaid credit grants
(mixed priorities, expiries and `applies_to`, some smaller than the invoice) and the same
period is closed again without, with, with and without them (best of each; the order
balances cache warming): the close with credits is compared with the close without (target
within 1.3x), and the invoices must add up to the plain total minus what the ledger drew.
The process's garbage collector is settled as `metering worker` settles it.
Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa
from common import SUPPORT_RULES, customer_ids, plan_rules, rss_mib, sizes_parser, support_events
from postgres import conninfo, copy_events, loaded_database, seed
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credits import ledger
from metering.billing.credits.models import EntryKind, GrantCategory, GrantStatus
from metering.billing.invoices.close import CloseReport, close_due
from metering.platform import collector
from metering.platform.db.bulk import insert_rows
from metering.platform.db.engine import make_engine
from metering.platform.db.ids import new_id
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


# Per customer: (amount, priority, expires after the period start, applies_to).
GRANTS = [
    ("50.00", 10, None, None),
    ("100.00", 100, timedelta(days=20), None),
    ("75.00", 100, None, ["Platform fee"]),
    ("200.00", 200, timedelta(days=400), ["resolved_conversation"]),
    ("25.00", 5, timedelta(days=10), None),
]


def reopen_period(engine: Engine) -> None:
    """Undo the close: no invoices, subscriptions back at the period's start."""
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE credit_entries, credit_grants, invoices CASCADE"))
        connection.execute(sa.text("DELETE FROM invoice_counters"))
        connection.execute(sa.text("UPDATE subscriptions SET billed_through = NULL"))


def add_grants(engine: Engine, per_customer: int) -> None:
    """`per_customer` active grants for every customer, each with its `grant` entry."""
    grants, entries = [], []
    with engine.connect() as connection:
        customers = connection.execute(sa.text("SELECT id, vendor_id FROM customers")).all()
    for customer_id, vendor_id in customers:
        for n in range(per_customer):
            amount, priority, expires, applies_to = GRANTS[n % len(GRANTS)]
            grant_id = new_id("crg")
            grants.append(
                {
                    "id": grant_id,
                    "vendor_id": vendor_id,
                    "customer_id": customer_id,
                    "currency": "usd",
                    "amount": Decimal(amount),
                    "category": GrantCategory.PROMOTIONAL.value,
                    "priority": priority,
                    "effective_at": PERIOD.start,
                    "expires_at": PERIOD.start + expires if expires else None,
                    "applies_to": applies_to,
                    "name": f"Grant {n + 1}",
                    "metadata": {},
                    "status": GrantStatus.ACTIVE.value,
                    "purchase_invoice_id": None,
                    "remaining": Decimal(amount),
                    "voided_at": None,
                    "expired_at": None,
                    "created_at": PERIOD.start,
                }
            )
            entries.append(
                {
                    "id": new_id("cle"),
                    "vendor_id": vendor_id,
                    "customer_id": customer_id,
                    "grant_id": grant_id,
                    "currency": "usd",
                    "kind": EntryKind.GRANT.value,
                    "amount": Decimal(amount),
                    "invoice_id": None,
                    "period_start": None,
                    "period_end": None,
                    "reason": None,
                    "at": PERIOD.start,
                }
            )
    with Session(engine) as session:
        insert_rows(session, ledger.GRANTS, grants)
        insert_rows(session, ledger.ENTRIES, entries)
        session.commit()


def drawn(engine: Engine) -> Decimal:
    """What the ledger's drawdowns took, checking every grant's balance on the way."""
    with Session(engine) as session:
        wrong = ledger.invariant_violations(session)
        if wrong:
            raise SystemExit(f"ledger invariant broken: {wrong[:3]}")
        total = session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(ledger.ENTRIES.c.amount), 0)).where(
                ledger.ENTRIES.c.kind == EntryKind.DRAWDOWN.value
            )
        ).scalar_one()
    return -Decimal(total)


def timed_close(engine: Engine) -> tuple[CloseReport, float]:
    began = time.perf_counter()
    report = close_due(engine, CLOSE_AT)
    return report, time.perf_counter() - began


def close_with(engine: Engine, per_customer: int, plain_total: Decimal) -> tuple[float, Decimal]:
    """The period closed again with `per_customer` grants each: its time, and what credits
    drew (checked: the invoices add up to the plain total minus it)."""
    reopen_period(engine)
    add_grants(engine, per_customer)
    report, elapsed = timed_close(engine)
    total = sum((invoice.total for invoice in report.invoices), Decimal(0))
    taken = drawn(engine)
    if total != plain_total - taken:
        raise SystemExit("the invoices with credits do not add up to the plain total - drawn")
    return elapsed, taken


def close_without(engine: Engine) -> float:
    reopen_period(engine)
    return timed_close(engine)[1]


def credits_run(engine: Engine, per_customer: int, plain_total: Decimal) -> None:
    """The same period closed again without credits, with, with, without (the order balances
    the cache warming over the runs; other processes share the machine: best of each)."""
    without = [close_without(engine)]
    first, taken = close_with(engine, per_customer, plain_total)
    second, _ = close_with(engine, per_customer, plain_total)
    without.append(close_without(engine))
    best = min(first, second)
    print(f"close with {per_customer} grants per customer: {best:.3f} s (best of 2)")
    print(f"close without: {min(without):.3f} s (best of 2)")
    print(f"with credits / without: {best / min(without):.2f}x (target within 1.3x)")
    print(f"credits drew {taken:.2f} usd of {plain_total:.2f} usd")


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
    parser.add_argument(
        "--grants",
        type=int,
        default=0,
        help="Prepaid credit grants per customer: close again with them and compare.",
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
        collector.settle_for_serving()  # as `metering worker` runs it
        before = rss_mib()
        began = time.perf_counter()
        report = close_due(engine, CLOSE_AT)
        first = time.perf_counter() - began
        # Then again, as a running worker closes (plan compiled, statements cached): the
        # best of both, as the baseline is the best of its runs.
        reopen_period(engine)
        began = time.perf_counter()
        report = close_due(engine, CLOSE_AT)
        elapsed = min(first, time.perf_counter() - began)
        total = sum((invoice.total for invoice in report.invoices), Decimal(0))
        print(f"baseline GROUP BY count: {baseline:.3f} s")
        print(
            f"close of {len(report.invoices):,} invoices: {elapsed:.3f} s "
            f"(best of 2; the first, in a fresh process: {first:.3f} s)"
        )
        print(f"close / baseline: {elapsed / baseline:.1f}x (target under 10x)")
        print(f"peak RSS: {rss_mib():.0f} MiB (before the close {before:.0f} MiB; target 500)")
        print(f"grand total {total} usd, core {expected} usd")
        if total != Decimal(expected):
            raise SystemExit("the invoices do not add up to the core's price")
        if args.grants:
            credits_run(engine, args.grants, total)
        engine.dispose()


if __name__ == "__main__":
    main()
