"""Benchmark: price 1,000,000 synthetic events for 1,000 customers in one process.

Events are generated in chunks outside the timed region and streamed into the ledger, so the
memory figure shows what pricing keeps (one entry per dedupe key, and the candidates of a key
whose outcome can be reversed), not the events themselves. Most ids here are new, so the
number of keys grows with the events; the per-key cost is printed.
Run: `make bench` or `python bench/price.py [--events N]`.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pricing_rules.engine import price_customer
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import OutcomeLedger, compile_plan
from pricing_rules.periods import period_from_label

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
  - {name: Platform fee, model: flat, price: "200.00"}
minimum: "500.00"
"""

CHUNK = 50_000


def generate(count: int, customers: int, seed: int = 7) -> Iterator[list[Event]]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    span = int(timedelta(days=30).total_seconds())
    channels = ("chat", "email", "phone")
    chunk: list[Event] = []
    for n in range(count):
        customer = f"cus_{rng.randrange(customers):04d}"
        at = start + timedelta(seconds=rng.randrange(span))
        roll = rng.random()
        if roll < 0.6:
            props: dict[str, object] = {
                "conversation_id": f"c{rng.randrange(count // 3)}",
                "channel": channels[rng.randrange(3)],
                "handled_by": "ai" if rng.random() < 0.8 else "human",
            }
            event = Event(f"e{n}", "conversation.resolved", customer, at, props)
        elif roll < 0.65:
            props = {"conversation_id": f"c{rng.randrange(count // 3)}"}
            event = Event(f"e{n}", "conversation.reopened", customer, at, props)
        else:
            props = {"lead_id": f"l{rng.randrange(count // 3)}", "score": rng.randrange(100)}
            event = Event(f"e{n}", "lead.qualified", customer, at, props)
        chunk.append(event)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args()

    rules = load_rules(RULES, "bench.yaml")
    period = period_from_label("2026-11", "month", "UTC")
    ledger = OutcomeLedger(compile_plan(rules), period, period.end)
    baseline_rss = rss_mib()
    timed = 0.0  # wall-clock seconds spent pricing
    cpu = 0.0  # CPU seconds of this process spent pricing (steady when the machine is busy)
    added = 0
    checkpoints = {args.events // 4 * k for k in (1, 2, 3, 4)}
    for chunk in generate(args.events, args.customers):
        began, began_cpu = time.perf_counter(), time.process_time()
        ledger.add_all(chunk)
        timed += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        added += len(chunk)
        if added in checkpoints:
            print(f"  after {added:>9,} events: peak RSS {rss_mib():7.1f} MiB")
        del chunk
    began, began_cpu = time.perf_counter(), time.process_time()
    invoices = {c: price_customer(rules, u) for c, u in ledger.resolve().items()}
    timed += time.perf_counter() - began
    cpu += time.process_time() - began_cpu
    total = sum(invoice.total for invoice in invoices.values())
    print(f"priced {added:,} events for {len(invoices):,} customers in {timed:.2f} s")
    print(f"events per second: {added / timed:,.0f} wall, {added / cpu:,.0f} CPU (target 300,000)")
    print(f"dedupe keys held: {ledger.key_count():,}")
    held = rss_mib() - baseline_rss
    print(
        f"peak RSS: {rss_mib():.1f} MiB (before pricing {baseline_rss:.1f} MiB), "
        f"{held * 1024 * 1024 / max(1, ledger.key_count()):,.0f} bytes per key"
    )
    print(f"grand total: {total} usd")


if __name__ == "__main__":
    main()
