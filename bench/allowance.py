"""Allowance benchmark: `GET /v1/customers/{id}/allowance` against `metering serve
--workers 2` on PostgreSQL, with 100,000 outcomes in the open period.

    python bench/allowance.py [--outcomes 100000] [--customers 10] [--requests 5000]
                              [--callers 50]

Loading is not timed: a vendor, a plan with a block maximum and a unit limit, and
`--customers` customers subscribed since the period start are made through the services;
generated events spread from the start of the current period to now are classified by the
pure core and COPYed with their outcome rows, then each customer's running tally is rebuilt
from its rows (the reconciliation a close does). Then `--callers` concurrent clients on
kept-alive connections ask `--requests` allowance checks of random customers, after a
warm-up; the same run times `/healthz` the same way as the baseline. Prints p50, p95, p99
of both, and of the batch form (`POST /v1/allowance`, 100 customers a call, not gated).
Target: p95 under 20 ms and p99 under 50 ms; exits 1 when missed.
Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from common import percentile
from ingest import server
from postgres import copy_events, fresh_database, seed
from sqlmodel import Session

from metering.ledger.tallies import repository as tallies
from metering.platform.db.engine import make_engine
from metering.platform.db.types import utcnow
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.periods import period_containing

DATABASE = "bench_allowance"
P95_MS, P99_MS = 20.0, 50.0
RULES = """
plan: bench-allowance
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  pipeline_value:
    event: deal.closed
    unique_by: properties.deal_id
    measure: {sum: properties.amount}
    limit: {units: "900000000", on_reach: block}
charges:
  - outcome: resolved_conversation
    model: graduated
    free_units: 50
    tiers:
      - {up_to: 1000, unit_price: "0.99"}
      - {up_to: null, unit_price: "0.79"}
  - {outcome: pipeline_value, model: per_unit, unit_price: "0.001"}
  - {name: Platform fee, model: flat, price: "200.00"}
maximum: {amount: "900000.00", on_reach: block, warn_at: 80}
"""


def generate(
    outcomes: int, customers: list[str], start: datetime, end: datetime, seed: int = 7
) -> Iterator[Event]:
    """`outcomes` outcome events in [start, end): 9 in 10 resolutions (a reopen for about
    one in 50), the rest deals, spread over the customers."""
    rng = random.Random(seed)
    span = max(int((end - start).total_seconds()) - 1, 1)
    for n in range(outcomes):
        customer = customers[n % len(customers)]
        at = start + timedelta(seconds=rng.randrange(span))
        if rng.random() < 0.9:
            props: dict[str, Any] = {"conversation_id": f"c{n}"}
            yield Event(f"e{n}", "conversation.resolved", customer, at, props)
            if rng.random() < 0.02:
                later = min(at + timedelta(hours=1), end - timedelta(seconds=1))
                yield Event(f"o{n}", "conversation.reopened", customer, later, props)
        else:
            amount = Decimal(rng.randrange(1_000, 1_000_000)).scaleb(-2)
            yield Event(
                f"e{n}", "deal.closed", customer, at, {"deal_id": f"d{n}", "amount": amount}
            )


def load(url: str, outcomes: int, customers: int, now: datetime) -> tuple[str, list[str]]:
    """Seed, COPY events and outcome rows, rebuild the tallies; the API key and customer ids."""
    rules = load_rules(RULES, "bench-allowance.yaml")
    period = period_containing(now, rules.billing.interval, rules.billing.timezone)
    names = [f"customer-{n:03}" for n in range(customers)]
    seeded = seed(url, RULES, "bench-allowance.yaml", names, period.start, "Bench Allowance")
    end = max(now - timedelta(minutes=1), period.start + timedelta(minutes=1))
    copy_events(url, seeded, generate(outcomes, names, period.start, end), None, (rules, period))
    engine = make_engine(url)
    with Session(engine) as session:
        tallies.rebuild(session, seeded.customer_ids.values(), period.start)
        session.commit()
    engine.dispose()
    return seeded.api_key, list(seeded.customer_ids.values())


async def timed(
    base: str,
    key: str,
    callers: int,
    requests: int,
    request: Callable[[httpx.AsyncClient, random.Random], Any],
) -> list[float]:
    """Latencies (ms) of `requests` calls made by `callers` concurrent kept-alive clients."""
    latencies: list[float] = []
    left = [requests]

    async def caller(number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(
            base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}"}
        ) as http:
            while left[0] > 0:
                left[0] -= 1
                started = time.perf_counter()
                response = await request(http, rng)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{response.status_code}: {response.text[:300]}")

    await asyncio.gather(*(caller(n) for n in range(callers)))
    return latencies


def summary(name: str, latencies: list[float]) -> tuple[float, float]:
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    print(
        f"{name:<22} n={len(latencies):>5}  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms"
    )
    return p95, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outcomes", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-jobs", action="store_true", help="serve without its jobs (an API-only process)"
    )
    args = parser.parse_args()
    now = utcnow()
    with fresh_database(DATABASE) as url:
        began = time.perf_counter()
        key, customer_ids = load(url, args.outcomes, args.customers, now)
        print(f"loaded {args.outcomes:,} outcome events in {time.perf_counter() - began:.1f} s")
        extra = ("--no-jobs",) if args.no_jobs else ()
        with server(url, args.workers, *extra, start_within=600) as base:

            def check(http: httpx.AsyncClient, rng: random.Random) -> Any:
                customer = rng.choice(customer_ids)
                outcome = "resolved_conversation" if rng.random() < 0.9 else "pipeline_value"
                return http.get(f"/v1/customers/{customer}/allowance", params={"outcome": outcome})

            def health(http: httpx.AsyncClient, rng: random.Random) -> Any:
                return http.get("/healthz")

            def batch(http: httpx.AsyncClient, rng: random.Random) -> Any:
                ids = [rng.choice(customer_ids) for _ in range(100)]
                body = {"outcome": "resolved_conversation", "customer_ids": ids}
                return http.post("/v1/allowance", json=body)

            warm = max(args.requests // 10, args.callers)
            asyncio.run(timed(base, key, args.callers, warm, check))
            baseline = asyncio.run(timed(base, key, args.callers, args.requests, health))
            checks = asyncio.run(timed(base, key, args.callers, args.requests, check))
            batches = asyncio.run(
                timed(base, key, args.callers, max(args.requests // 20, 100), batch)
            )
    jobs = " --no-jobs" if args.no_jobs else ""
    print(f"{args.callers} callers, serve --workers {args.workers}{jobs}, PostgreSQL")
    summary("/healthz (baseline)", baseline)
    p95, p99 = summary("allowance check", checks)
    summary("batch of 100 (info)", batches)
    ok = p95 < P95_MS and p99 < P99_MS
    print(f"target p95 < {P95_MS:.0f} ms, p99 < {P99_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
