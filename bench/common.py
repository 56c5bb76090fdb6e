"""What the benchmarks share without a database: the support-agent plan and events, and
the figures they print (peak RSS, percentiles).

The scripts run as `python bench/<name>.py`, so this directory is on `sys.path` and they
import it as `common`. It imports only the pure core, so that `bench/price.py`, which
measures the core's memory, does not count the database libraries in.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pricing_rules.events import Event

# The plan of the rating and simulation benchmarks: counts and tiers, a package, a percentage
# of each deal, a flat fee and a minimum.
SUPPORT_RULES = """
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


OUTCOME_RULES = SUPPORT_RULES.replace(
    """  - outcome: resolved_conversation
    model: graduated
    free_units: 50
    tiers:
      - {up_to: 1000, unit_price: "0.99"}
      - {up_to: null, unit_price: "0.79"}
""",
    """  - outcome: resolved_conversation
    model: graduated
    free_units: 10
    group_by: properties.model
    prices:
      gpt-4o: [{up_to: 1000, unit_price: "0.99"}, {up_to: null, unit_price: "0.79"}]
      claude: [{up_to: 500, unit_price: "1.09"}, {up_to: null, unit_price: "0.89"}]
      default: [{up_to: 1000, unit_price: "0.49"}, {up_to: null, unit_price: "0.39"}]
""",
)
"""The outcome rules the market uses on the same events: resolutions priced per model."""

PLANS = {"support": SUPPORT_RULES, "outcomes": OUTCOME_RULES}
MODELS = ("gpt-4o", "claude", "llama", "mistral", None)
"""The model of resolution n is MODELS[n % 5] (None: no model property)."""


def sizes_parser(description: str | None) -> argparse.ArgumentParser:
    """The options of a benchmark of many customers' events: --events and --customers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    return parser


def plans_parser(description: str | None) -> argparse.ArgumentParser:
    """`sizes_parser` and --plan, for the benchmarks that price under either plan."""
    parser = sizes_parser(description)
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default="support",
        help="support: tiers, a package, a percentage, a fee and a minimum; outcomes: the same "
        "with resolutions priced per model (group_by), on events that name their model.",
    )
    return parser


def customer_ids(customers: int) -> list[str]:
    """The external ids `support_events` uses: customer-0000, customer-0001, ..."""
    return [f"customer-{number:04d}" for number in range(customers)]


def support_events(
    count: int,
    customers: int,
    start: datetime,
    span: int,
    *,
    deals: float,
    seed: int,
    prefix: str = "customer-",
    models: bool = False,
) -> Iterator[Event]:
    """Resolutions (some on a human or phone, some repeated; with `models`, most naming the
    model that resolved them), reopens, scored leads and a `deals` share of deals, at random
    seconds in [start, start + span). The random draws do not depend on `models`."""
    rng = random.Random(seed)
    channels = ("chat", "email", "phone")
    for n in range(count):
        customer = f"{prefix}{rng.randrange(customers):04d}"
        at = start + timedelta(seconds=rng.randrange(span))
        roll = rng.random()
        if roll < 0.6:
            props: dict[str, Any] = {
                "conversation_id": f"c{rng.randrange(count // 3)}",
                "channel": channels[rng.randrange(3)],
                "handled_by": "ai" if rng.random() < 0.8 else "human",
            }
            if models and (model := MODELS[n % len(MODELS)]) is not None:
                props["model"] = model
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


def rss_mib() -> float:
    """This process's peak resident set size so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], percent: int) -> float:
    """The `percent`th percentile of `values` (inclusive method, as the targets are read)."""
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
