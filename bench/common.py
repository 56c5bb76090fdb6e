"""What the benchmarks share without a database: the support-agent plan and events, and
the figures they print (peak RSS, percentiles, request timings).

The scripts run as `python bench/<name>.py`, so this directory is on `sys.path` and they
import it as `common`. It imports only the pure core, so that `bench/price.py`, which
measures the core's memory, does not count the database libraries in.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from collections.abc import Callable, Iterator
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


# The plan of the cost benchmarks (margin report, event log): resolutions per unit, a flat fee,
# and token prices for attributing model calls to conversations.
COST_RULES = """
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


# The same traffic under one outcome per conversation by precedence (a qualified lead before a
# resolution before a human handoff) and AI resolutions billed only once a verifier confirms
# them (or 72 hours later without one), priced per AI model (`group_by`).
OUTCOME_RULES = """
plan: bench-outcomes
version: 1
currency: usd
billing: {interval: month, timezone: UTC, close_after: 72h}
exclusive:
  key: properties.conversation_id
  order: [qualified_lead, resolved_conversation, handoff]
outcomes:
  resolved_conversation:
    event: conversation.resolved
    where:
      properties.channel: {in: [chat, email]}
      properties.handled_by: {eq: ai}
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
      confirmed_by:
        event: resolution.verified
        match: properties.conversation_id
        within: 72h
        otherwise: count
  qualified_lead:
    event: lead.qualified
    where:
      properties.score: {gte: 70}
    settle: {after: 24h}
  handoff:
    event: conversation.handed_off
charges:
  - outcome: resolved_conversation
    model: graduated
    free_units: 10
    group_by: properties.model
    prices:
      gpt-4o: [{up_to: 1000, unit_price: "0.99"}, {up_to: null, unit_price: "0.79"}]
      claude: [{up_to: 500, unit_price: "1.09"}, {up_to: null, unit_price: "0.89"}]
      default: [{up_to: 1000, unit_price: "0.49"}, {up_to: null, unit_price: "0.39"}]
  - {outcome: qualified_lead, model: per_unit, unit_price: "9.99"}
  - {outcome: handoff, model: per_unit, unit_price: "0.99"}
  - {name: Platform fee, model: flat, price: "200.00"}
minimum: "500.00"
"""


MODELS = ("gpt-4o", "claude", "llama", "mistral", None)
"""With the `outcomes` plan, the model of resolution n is MODELS[n % 5] (None: none named)."""


def plan_rules(name: str, support: str) -> str:
    """The rules a benchmark runs: `support` (its own) or `outcomes` (`OUTCOME_RULES`)."""
    return OUTCOME_RULES if name == "outcomes" else support


def sizes_parser(description: str | None) -> argparse.ArgumentParser:
    """The options of a benchmark of many customers' events: --events and --customers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
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
    verified: bool = False,
) -> Iterator[Event]:
    """Resolutions (some on a human or phone, some repeated), reopens, scored leads and a
    `deals` share of deals, at random seconds in [start, start + span). `verified`: leads
    name a conversation too, half of them are a verifier's confirmation instead, the
    conversations a human handled are handoffs, and most resolutions name their model."""
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
            if verified and (model := MODELS[n % len(MODELS)]) is not None:
                props["model"] = model
            handed_off = verified and props["handled_by"] == "human"
            kind = "conversation.handed_off" if handed_off else "conversation.resolved"
            yield Event(f"e{n}", kind, customer, at, props)
        elif roll < 0.65:
            props = {"conversation_id": f"c{rng.randrange(count // 3)}"}
            yield Event(f"e{n}", "conversation.reopened", customer, at, props)
        elif verified and roll < 0.65 + (0.35 - deals) / 2:
            props = {"conversation_id": f"c{rng.randrange(count // 3)}"}
            yield Event(f"e{n}", "resolution.verified", customer, at, props)
        elif roll < 1 - deals:
            props = {"lead_id": f"l{rng.randrange(count // 3)}", "score": rng.randrange(100)}
            if verified:
                props["conversation_id"] = f"c{rng.randrange(count // 3)}"
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


def timings(request: Callable[[], Any], runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds per request, after `warmup` untimed ones; each must answer 200."""
    for _ in range(warmup):
        request()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = request()
        times.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{answer.request.url} answered {answer.status_code}")
    return times
