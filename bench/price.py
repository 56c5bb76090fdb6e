"""Benchmark: price 1,000,000 synthetic events for 1,000 customers in one process.

Events are generated in chunks outside the timed region and streamed into the ledger, so the
memory figure shows what pricing keeps (one entry per dedupe key, and the candidates of a key
whose outcome can be reversed), not the events themselves. Most ids here are new, so the
number of keys grows with the events; the per-key cost is printed.
Run: `make bench` or `python bench/price.py [--events N] [--plan outcomes]` (one outcome per
conversation by precedence, verified resolutions, prices per AI model: `bench/common.py`,
`OUTCOME_RULES`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

from common import SUPPORT_RULES, plan_rules, rss_mib, sizes_parser, support_events

from pricing_rules.engine import price_customer
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import OutcomeLedger, compile_plan
from pricing_rules.periods import period_from_label

# The rating plan without its deals: counts, tiers, a package, a flat fee and a minimum.
RULES = SUPPORT_RULES.replace(
    """  pipeline_value:
    event: deal.closed
    unique_by: properties.deal_id
    measure: {sum: properties.amount}
""",
    "",
).replace(
    """  - outcome: pipeline_value
    model: percentage
    rate: "1.5"
    per_event_min: "1.00"
    per_event_max: "50.00"
""",
    "",
)

CHUNK = 50_000


def generate(count: int, customers: int, verified: bool) -> Iterator[list[Event]]:
    """Resolutions (some on a human or phone, some repeated), reopens and scored leads (with
    `verified`, on conversations, and verifiers' confirmations), in chunks of `CHUNK`."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    span = int(timedelta(days=30).total_seconds())
    events = support_events(
        count, customers, start, span, deals=0, seed=7, prefix="cus_", verified=verified
    )
    while chunk := list(islice(events, CHUNK)):
        yield chunk
        del chunk  # before the next one is made: one chunk held at a time


def main() -> None:
    parser = sizes_parser(__doc__)
    parser.add_argument(
        "--plan",
        choices=["support", "outcomes"],
        default="support",
        help="outcomes: one outcome per conversation (exclusive), verified resolutions, "
        "prices per model (group_by).",
    )
    args = parser.parse_args()

    rules = load_rules(plan_rules(args.plan, RULES), "bench.yaml")
    period = period_from_label("2026-11", "month", "UTC")
    ledger = OutcomeLedger(compile_plan(rules), period, period.end)
    baseline_rss = rss_mib()
    timed = 0.0  # wall-clock seconds spent pricing
    cpu = 0.0  # CPU seconds of this process spent pricing (steady when the machine is busy)
    added = 0
    checkpoints = {args.events // 4 * k for k in (1, 2, 3, 4)}
    for chunk in generate(args.events, args.customers, args.plan == "outcomes"):
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
