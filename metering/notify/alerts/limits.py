"""`limit.warning` and `limit.reached`: a period's limits read from the running tallies.

Each limit of a customer's period (the plan's `maximum`, the customer's `spend_limit`, an
outcome's unit `limit`) warns once its use reaches `warn_at` percent and is reached once
its use reaches it or a `block` limit holds outcomes over it. Fired once per (limit,
customer, period) like every alert (`evaluation._fire`): the next period fires again. A
plan maximum with `notify` or `stop_billing` keeps its `alert.triggered` (maximum_reached)
instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from metering.ledger.tallies.repository import PeriodTally
from metering.platform.outbox.models import EventType
from pricing_rules import limits
from pricing_rules.pricing import MeasuredUsage
from pricing_rules.rules import RuleFile

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LimitCrossing:
    """One limit crossed: which (`name`, at most 40 characters: the firing's key), how."""

    name: str
    event: EventType
    kind: str
    figure: Decimal
    threshold: Decimal
    outcome: str | None
    on_reach: str
    limit: Decimal


def _crossed(
    name: str,
    kind: str,
    used: Decimal,
    limit: Decimal,
    warn_at: int,
    held: bool,
    outcome: str | None,
    on_reach: str,
) -> list[LimitCrossing]:
    found = []
    if used * HUNDRED >= limit * warn_at:
        threshold = (limit * warn_at / HUNDRED).normalize()
        found.append(
            LimitCrossing(
                f"{name}:warning",
                EventType.LIMIT_WARNING,
                kind,
                used,
                threshold,
                outcome,
                on_reach,
                limit,
            )
        )
    if used >= limit or held:
        found.append(
            LimitCrossing(
                f"{name}:reached",
                EventType.LIMIT_REACHED,
                kind,
                used,
                limit,
                outcome,
                on_reach,
                limit,
            )
        )
    return found


def limit_crossings(
    rules: RuleFile,
    spend_limit: limits.MoneyLimit | None,
    tallies: Mapping[str, PeriodTally],
) -> list[LimitCrossing]:
    """Every limit of one customer's period its tallies have crossed."""
    usage = {
        name: MeasuredUsage(t.units if limits.sums(rules, name) else Decimal(t.rows), t.rows)
        for name, t in tallies.items()
    }
    spent = limits.spend(rules, usage)
    held = any(t.over_limit_rows for t in tallies.values())
    found: list[LimitCrossing] = []
    for money in limits.money_limits(rules, spend_limit):
        blocks = money.on_reach in limits.BLOCKING
        if money.kind == "plan_maximum" and not blocks:
            continue  # `alert.triggered` (maximum_reached) tells of a plan's cap or notify
        found += _crossed(
            money.kind,
            money.kind,
            spent,
            money.amount,
            money.warn_at,
            blocks and held,
            None,
            money.on_reach,
        )
    for name, spec in rules.outcomes.items():
        if spec.limit is None:
            continue
        used = usage[name].quantity if name in usage else Decimal(0)
        over = name in tallies and tallies[name].over_limit_rows > 0
        found += _crossed(
            f"units:{name}"[:32],
            "outcome_units",
            used,
            spec.limit.units,
            spec.limit.warn_at,
            over,
            name,
            spec.limit.on_reach,
        )
    return found
