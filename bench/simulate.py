"""Simulation benchmark: a price change on one month of 1,000,000 stored events, PostgreSQL.

    python bench/simulate.py [--events 1000000] [--customers 1000]

Loading is not timed: a child process seeds a vendor, the plan and its subscribers, and
COPYs generated events (resolutions, some on the phone or by a human, repeats, reopens,
scored leads, deals) into a fresh `bench_simulate` database, then prices them with the pure
core (`price_events`) for the expected current total. The parent times
`metering.simulation.service.simulate` through a read-only session (the proposal counts
phone resolutions, charges 1.09 from the first unit and drops the reopen reversal), and
prints the time, events per second, the time of only reading the same events (baseline),
its own peak RSS (target under 500 MB; the loading child does not count in) and the
totals. The current total must equal the core's price. Needs the PostgreSQL server at
127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from metering.customers.models import Customer
from metering.db import jsontext
from metering.db.engine import make_engine
from metering.db.ids import new_id
from metering.db.migrate import upgrade
from metering.plans.models import Plan
from metering.plans.service import upload
from metering.simulation.readonly import read_only_session
from metering.simulation.repository import stream_events, subscribers
from metering.simulation.schemas import simulation_out
from metering.simulation.service import CUSTOMER_BATCH, simulate
from metering.subscriptions.models import Subscription
from metering.vendors.service import create_vendor
from pricing_rules.engine import price_events
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_from_label

ADMIN_URL = os.environ.get(
    "METERING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "bench_simulate"
PERIOD = period_from_label("2026-11", "month", "UTC")
NOW = PERIOD.end + timedelta(days=5)
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
EVENT_COLUMNS = (
    "pk, vendor_id, event_id, type, customer_id, customer_external_id, occurred_at, "
    "received_at, properties, cost, content_hash, status, plan_version_id"
)


def _admin(statement: str) -> None:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def generate(count: int, customers: int, seed: int = 11) -> Iterator[Event]:
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
        elif roll < 0.9:
            props = {"lead_id": f"l{rng.randrange(count // 3)}", "score": rng.randrange(100)}
            yield Event(f"e{n}", "lead.qualified", customer, at, props)
        else:
            amount = Decimal(rng.randrange(1_000, 10_000_000)).scaleb(-2)
            props = {"deal_id": f"d{n}", "amount": amount}
            yield Event(f"e{n}", "deal.closed", customer, at, props)


def seed(url: str, customers: int) -> tuple[str, str, str, dict[str, str]]:
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
        result = uploaded.plan.id, uploaded.version.id, vendor.id, ids
    engine.dispose()
    return result


def load(url: str, events: int, customers: int, expected: Any) -> None:
    """In the child: seed, COPY the events, price them with the core."""
    _, version_id, vendor_id, ids = seed(url, customers)
    received = NOW - timedelta(days=4)
    with psycopg.connect(_conninfo(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for pk, event in enumerate(generate(events, customers), start=1):
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
                        "counted",
                        version_id,
                    )
                )
        cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'pk'), max(pk)) FROM events")
        connection.commit()
        cursor.execute("ANALYZE")
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
            f"total current {out.total.current} usd (core {expected.value}), proposed "
            f"{out.total.proposed} usd, {out.total.difference} ({out.total.percent_change} %)"
        )
        for change in out.treatment_changes:
            print(f"  {change.outcome}: {change.current} -> {change.proposed}: {change.events:,}")
        if Decimal(out.total.current) != Decimal(expected.value):
            raise SystemExit("the current side does not add up to the core's price")
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
