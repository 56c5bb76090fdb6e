"""Rating benchmark: close one month of 1,000,000 events for 1,000 customers in PostgreSQL.

    python bench/rate.py [--events 1000000] [--customers 1000] [--deals 0.1]

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

import argparse
import multiprocessing
import os
import random
import resource
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from metering.customers.models import Customer
from metering.db import jsontext
from metering.db.engine import make_engine
from metering.db.ids import new_id
from metering.db.migrate import upgrade
from metering.invoices.close import close_due
from metering.plans.service import upload
from metering.subscriptions.models import Subscription
from metering.vendors.service import create_vendor
from pricing_rules.engine import price_events
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import Candidate, compile_plan, resolve_key
from pricing_rules.periods import period_from_label

ADMIN_URL = os.environ.get(
    "METERING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "bench_rate"
PERIOD = period_from_label("2026-11", "month", "UTC")
CLOSE_AT = PERIOD.end + timedelta(days=5)
RULES = """
plan: bench
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    where:
      properties.channel: {in: [chat, email]}
      properties.handled_by: {eq: ai}
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  qualified_lead:
    event: lead.qualified
    where:
      properties.score: {gte: 70}
    unique_by: properties.lead_id
    settle: {after: 24h}
  pipeline_value:
    event: deal.closed
    unique_by: properties.deal_id
    measure: {sum: properties.amount}
charges:
  - outcome: resolved_conversation
    model: graduated
    free_units: 50
    tiers:
      - {up_to: 1000, unit_price: "0.99"}
      - {up_to: null, unit_price: "0.79"}
  - outcome: qualified_lead
    model: package
    package_size: 25
    price: "20.00"
  - outcome: pipeline_value
    model: percentage
    rate: "1.5"
    per_event_min: "1.00"
    per_event_max: "50.00"
  - {name: Platform fee, model: flat, price: "200.00"}
minimum: "500.00"
"""
EVENT_COLUMNS = (
    "pk, vendor_id, event_id, type, customer_id, customer_external_id, occurred_at, "
    "received_at, properties, cost, content_hash, status, plan_version_id"
)
OUTCOME_COLUMNS = (
    "vendor_id, customer_id, plan_version_id, event_pk, event_id, outcome, period_start, "
    "period_end, dedupe_key, match_key, occurred_at, value, value_text, problem, "
    "settles_at, state"
)


def _admin(statement: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def generate(count: int, customers: int, deals: float, seed: int = 7) -> Iterator[Event]:
    """Resolutions (some on a human or phone, some repeated), reopens, scored leads, deals."""
    rng = random.Random(seed)
    span = int((PERIOD.end - PERIOD.start).total_seconds()) - 1
    channels = ("chat", "email", "phone")
    for n in range(count):
        customer = f"customer-{rng.randrange(customers):04d}"
        at = PERIOD.start + timedelta(seconds=rng.randrange(span))
        roll = rng.random()
        if roll < 0.6:
            props: dict[str, Any] = {
                "conversation_id": f"c{rng.randrange(count // 3)}",
                "channel": channels[rng.randrange(3)],
                "handled_by": "ai" if rng.random() < 0.8 else "human",
            }
            yield Event(f"e{n}", "conversation.resolved", customer, at, props)
        elif roll < 0.65:
            props = {"conversation_id": f"c{rng.randrange(count // 3)}"}
            yield Event(f"e{n}", "conversation.reopened", customer, at, props)
        elif roll < 1 - deals:
            props = {"lead_id": f"l{rng.randrange(count // 3)}", "score": rng.randrange(100)}
            yield Event(f"e{n}", "lead.qualified", customer, at, props)
        else:
            amount = Decimal(rng.randrange(1_000, 10_000_000)).scaleb(-2)
            props = {"deal_id": f"d{n}", "amount": amount}
            yield Event(f"e{n}", "deal.closed", customer, at, props)


def seed(url: str, customers: int) -> tuple[str, str, dict[str, str]]:
    """A vendor, the plan, and customers subscribed from the period start."""
    engine = make_engine(url)
    with Session(engine) as session:
        vendor = create_vendor(session, "Bench").vendor
        uploaded = upload(session, vendor, RULES, "bench.yaml")
        ids = {}
        for number in range(customers):
            external_id = f"customer-{number:04d}"
            customer = Customer(id=new_id("cus"), vendor_id=vendor.id, external_id=external_id)
            session.add(customer)
            session.flush()
            session.add(
                Subscription(
                    id=new_id("sub"),
                    vendor_id=vendor.id,
                    customer_id=customer.id,
                    plan_id=uploaded.plan.id,
                    plan_version_id=uploaded.version.id,
                    starts_at=PERIOD.start,
                )
            )
            ids[external_id] = customer.id
        session.commit()
        result = vendor.id, uploaded.version.id, ids
    engine.dispose()
    return result


def load(url: str, events: int, customers: int, deals: float, expected: Any) -> None:
    """In the child: seed, COPY events and their outcome rows, price them with the core."""
    vendor_id, version_id, ids = seed(url, customers)
    rules = load_rules(RULES, "bench.yaml")
    plan = compile_plan(rules)
    candidates: dict[tuple[str, str, str], list[tuple[Candidate, int, Any]]] = {}
    reversals: dict[tuple[str, str], dict[str, datetime]] = {}
    received = CLOSE_AT - timedelta(days=4)
    with psycopg.connect(_conninfo(url)) as connection, connection.cursor() as cursor:
        # The rows are consistent by construction: skip the per-row foreign key triggers.
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for pk, event in enumerate(generate(events, customers, deals), start=1):
                found = plan.classify(event)
                for hit in found.outcomes:
                    key = (event.customer, hit.outcome, hit.dedupe_key)
                    candidate = Candidate(event.id, event.timestamp, hit.match_key)
                    candidates.setdefault(key, []).append((candidate, pk, hit))
                for reversal in found.reversals:
                    latest = reversals.setdefault((event.customer, reversal.outcome), {})
                    seen = latest.get(reversal.match_key)
                    if seen is None or event.timestamp > seen:
                        latest[reversal.match_key] = event.timestamp
                copy.write_row(
                    (
                        pk,
                        vendor_id,
                        event.id,
                        event.type,
                        ids[event.customer],
                        event.customer,
                        event.timestamp,
                        received,
                        jsontext.dumps(event.properties),
                        None,
                        f"{pk:064x}",
                        "counted" if found.outcomes else "reversal",
                        version_id,
                    )
                )
        cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'pk'), max(pk)) FROM events")
        with cursor.copy(f"COPY outcomes ({OUTCOME_COLUMNS}) FROM STDIN") as copy:
            for (customer, outcome, key), members in candidates.items():
                last = reversals.get((customer, outcome), {})
                resolution = resolve_key([member[0] for member in members], last)
                states = {c.event_id: "reversed" for c in resolution.reversed}
                states |= {c.event_id: "duplicate" for c in resolution.duplicates}
                if resolution.winner is not None:
                    states[resolution.winner.event_id] = "counted"
                for candidate, pk, hit in members:
                    copy.write_row(
                        (
                            vendor_id,
                            ids[customer],
                            version_id,
                            pk,
                            candidate.event_id,
                            outcome,
                            PERIOD.start,
                            PERIOD.end,
                            key,
                            hit.match_key,
                            candidate.occurred_at,
                            hit.value if isinstance(hit.value, Decimal) else None,
                            hit.value if isinstance(hit.value, str) else None,
                            hit.problem,
                            hit.settles_at,
                            states[candidate.event_id],
                        )
                    )
        connection.commit()
        cursor.execute("ANALYZE")
    report = price_events(
        rules, generate(events, customers, deals), PERIOD, CLOSE_AT - timedelta(days=2)
    )
    expected.value = str(sum((c.invoice.total for c in report.customers), Decimal(0)))


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(runs: int, url: str, sql: str) -> float:
    times = []
    with psycopg.connect(_conninfo(url)) as connection, connection.cursor() as cursor:
        for _ in range(runs):
            began = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument(
        "--deals",
        type=float,
        default=0.1,
        help="Share of events that are deals, priced per event by the percentage charge "
        "(each value goes through Python: 0 shows the close of counts and tiers alone).",
    )
    args = parser.parse_args()
    _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{DATABASE}"')
    url = make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    try:
        upgrade(url)
        began = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        expected = context.Manager().Value(str, "")
        child = context.Process(
            target=load, args=(url, args.events, args.customers, args.deals, expected)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"loading failed with exit code {child.exitcode}")
        print(f"loaded {args.events:,} events in {time.perf_counter() - began:.1f} s (not timed)")
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
        print(f"grand total {total} usd, core {expected.value} usd")
        if total != Decimal(expected.value):
            raise SystemExit("the invoices do not add up to the core's price")
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
