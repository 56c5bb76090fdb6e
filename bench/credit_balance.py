"""Credit balance benchmark: `GET /v1/customers/{id}/credit_balance` against `metering
serve --workers 2` on PostgreSQL, with 100,000 outcomes in the open period.

    python bench/credit_balance.py [--outcomes 100000] [--customers 10] [--grants 4]
                                   [--rate 10] [--requests 600]

Loading is not timed and is `bench/allowance.py`'s (its plan, its generated events COPYed
with their outcome rows, its tallies rebuilt); then each customer gets `--grants` grants
through the credits service (different priorities, expiries and categories, one limited to
a charge). The balance's `projected_draw` rates the open period live, so each call measures
and prices the customer's share of the 100,000 outcomes. Then requests arrive at a steady
`--rate` per second (open loop: each starts on its schedule, whether or not the earlier
ones have answered, as a portal's and a dashboard's visitors do), each for a random
customer, after a warm-up; the same run times `/healthz` with the same shape as the baseline.
Prints p50, p95, p99 of both. Target: p95 under 50 ms; exits 1 when missed.
Needs the PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from allowance import load, summary
from ingest import server
from postgres import fresh_database
from sqlmodel import Session

from metering.billing.credits import service as credits
from metering.billing.credits.models import GrantCategory
from metering.billing.credits.schemas import GrantCreate
from metering.catalog.customers.models import Customer
from metering.platform.db.engine import make_engine
from metering.platform.db.types import utcnow

DATABASE = "bench_credit_balance"
P95_MS = 50.0


def grant(url: str, customer_ids: list[str], grants: int, now: datetime) -> None:
    """`grants` grants per customer, made as the API makes them: some expire within 30 days
    (the balance lists them), one pays only the platform fee."""
    engine = make_engine(url)
    with Session(engine) as session:
        for customer_id in customer_ids:
            customer = session.get(Customer, customer_id)
            assert customer is not None
            for n in range(grants):
                data = GrantCreate(
                    amount=f"{500 * (n + 1)}.00",
                    category=GrantCategory.PAID if n % 2 else GrantCategory.PROMOTIONAL,
                    priority=10 * (n % 3),
                    effective_at=now - timedelta(days=40),
                    expires_at=None if n % 3 == 2 else now + timedelta(days=20 + 30 * n),
                    applies_to=["Platform fee"] if n == 1 else None,
                    name=f"Grant {n}",
                )
                credits.create(session, customer, data, now - timedelta(days=40))
        session.commit()
    engine.dispose()


async def paced(
    base: str,
    key: str,
    rate: float,
    requests: int,
    request: Callable[[httpx.AsyncClient, random.Random], Any],
) -> list[float]:
    """Latencies (ms) of `requests` calls started `rate` per second on their schedule (open
    loop, on a pool of kept-alive connections)."""
    latencies: list[float] = []
    rng = random.Random(1)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=base, timeout=120, limits=limits, headers={"Authorization": f"Bearer {key}"}
    ) as http:

        async def one() -> None:
            started = time.perf_counter()
            response = await request(http, rng)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{response.status_code}: {response.text[:300]}")

        began = time.perf_counter()
        tasks = []
        for n in range(requests):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outcomes", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--grants", type=int, default=4)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    now = utcnow()
    with fresh_database(DATABASE) as url:
        began = time.perf_counter()
        key, customer_ids = load(url, args.outcomes, args.customers, now)
        grant(url, customer_ids, args.grants, now)
        print(
            f"loaded {args.outcomes:,} outcome events and {args.grants} grants for each of "
            f"{args.customers} customers in {time.perf_counter() - began:.1f} s (not timed)"
        )
        with server(url, args.workers, start_within=600) as base:

            def balance(http: httpx.AsyncClient, rng: random.Random) -> Any:
                return http.get(f"/v1/customers/{rng.choice(customer_ids)}/credit_balance")

            def health(http: httpx.AsyncClient, rng: random.Random) -> Any:
                return http.get("/healthz")

            warm = max(args.requests // 10, 50)
            asyncio.run(paced(base, key, args.rate, warm, balance))
            baseline = asyncio.run(paced(base, key, args.rate, args.requests, health))
            balances = asyncio.run(paced(base, key, args.rate, args.requests, balance))
    print(f"{args.rate:g} requests/s, serve --workers {args.workers}, PostgreSQL")
    summary("/healthz (baseline)", baseline)
    p95, _ = summary("credit balance", balances)
    ok = p95 < P95_MS
    print(f"target p95 < {P95_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
