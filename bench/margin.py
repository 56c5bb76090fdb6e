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
from metering.plans.service import upload
from metering.reports.service import margin_report
from metering.subscriptions.models import Subscription
from metering.vendors.service import create_vendor
from pricing_rules.costs import event_cost
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import Candidate, compile_plan, resolve_key
from pricing_rules.periods import period_from_label

ADMIN_URL = os.environ.get(
    "METERING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "bench_margin"
PERIOD = period_from_label("2026-11", "month", "UTC")
AS_OF = PERIOD.end + timedelta(days=1)
RULES = """
plan: bench
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
charges:
  - outcome: resolved_conversation
    model: per_unit
    unit_price: "0.99"
  - {name: Platform fee, model: flat, price: "200.00"}
costs:
  attribute_to: properties.conversation_id
  models:
    gpt-4o: {input: "2.50", output: "10.00"}
    small: {input: "0.15", output: "0.60"}
"""
EVENT_COLUMNS = (
    "pk, vendor_id, event_id, type, customer_id, customer_external_id, occurred_at, "
    "received_at, properties, cost, content_hash, status, plan_version_id"
)
OUTCOME_COLUMNS = (
    "vendor_id, customer_id, plan_version_id, event_pk, event_id, outcome, period_start, "
    "period_end, dedupe_key, match_key, occurred_at, settles_at, state"
)


def _admin(statement: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


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


def seed(url: str, customers: int) -> tuple[str, str, dict[str, str]]:
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


def load(url: str, events: int, customers: int, expected: Any) -> None:
    """In the child: seed, COPY events and their outcome rows, sum the costs with the core."""
    vendor_id, version_id, ids = seed(url, customers)
    rules = load_rules(RULES, "bench.yaml")
    plan = compile_plan(rules)
    candidates: dict[tuple[str, str, str], list[tuple[Candidate, int, Any]]] = {}
    reversals: dict[tuple[str, str], dict[str, datetime]] = {}
    priced = Decimal(0)
    with psycopg.connect(_conninfo(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for pk, event in enumerate(generate(events, customers), start=1):
                found = plan.classify(event)
                cost = event_cost(rules, event.cost)
                if cost is not None and cost.amount is not None:
                    priced += cost.amount
                for hit in found.outcomes:
                    slot = (event.customer, hit.outcome, hit.dedupe_key)
                    candidate = Candidate(event.id, event.timestamp, hit.match_key)
                    candidates.setdefault(slot, []).append((candidate, pk, hit))
                for reversal in found.reversals:
                    latest = reversals.setdefault((event.customer, reversal.outcome), {})
                    seen = latest.get(reversal.match_key)
                    if seen is None or event.timestamp > seen:
                        latest[reversal.match_key] = event.timestamp
                status = "counted" if found.outcomes else "reversal" if found.reversals else ""
                copy.write_row(
                    (
                        pk,
                        vendor_id,
                        event.id,
                        event.type,
                        ids[event.customer],
                        event.customer,
                        event.timestamp,
                        AS_OF,
                        jsontext.dumps(event.properties),
                        None if event.cost is None else jsontext.dumps(event.cost),
                        f"{pk:064x}",
                        status or "unmatched",
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
                            hit.settles_at,
                            states[candidate.event_id],
                        )
                    )
        connection.commit()
        cursor.execute("ANALYZE")
    expected.value = f"{vendor_id} {priced}"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args()
    _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{DATABASE}"')
    url = make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    try:
        upgrade(url)
        began = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        expected = context.Manager().Value(str, "")
        child = context.Process(target=load, args=(url, args.events, args.customers, expected))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"loading failed with exit code {child.exitcode}")
        print(f"loaded {args.events:,} events in {time.perf_counter() - began:.1f} s (not timed)")
        vendor_id, core_cost = expected.value.split()
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
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
