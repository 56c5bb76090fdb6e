"""Limits: which outcomes of a period count under a `block` limit, and what is left.

A period has at most one money limit that blocks (the lower of the plan's `maximum` with
`on_reach: block` and the customer's `spend_limit` with `block`) and, per outcome, a unit
limit (`limit: {units, on_reach: block | stop_billing}`). Walking the period's would-be
counted outcomes in (timestamp, event id) order, the order dedupe resolves keys in, an
outcome counts only if the units of its outcome and the spend after it stay within every
limit; otherwise it is over the limit, and the walk goes on (a smaller one may still fit).
The result depends only on the set of outcomes, never on the order they arrived in.

Spend is the sum of the rounded charge lines for the counted outcomes (flat fees included),
before the minimum true-up and the cap: what the customer has run up so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from pricing_rules.measures import Sum
from pricing_rules.pricing import MeasuredUsage, price_usage
from pricing_rules.rules import OnReach, RuleFile

ZERO = Decimal(0)
ONE = Decimal(1)
BLOCKING: frozenset[str] = frozenset({"block"})
UNIT_BLOCKING: frozenset[str] = frozenset({"block", "stop_billing"})
LimitKind = Literal["plan_maximum", "customer_spend_limit", "outcome_units"]


@dataclass(frozen=True, slots=True)
class MoneyLimit:
    """A spend limit: the plan's `maximum` or the customer's `spend_limit`."""

    amount: Decimal
    on_reach: OnReach
    warn_at: int
    kind: LimitKind


def money_limits(rules: RuleFile, spend_limit: MoneyLimit | None) -> list[MoneyLimit]:
    """The money limits of a period: the plan's, then the customer's (which may only lower
    it: the vendor's API refuses a higher one)."""
    found: list[MoneyLimit] = []
    if rules.maximum is not None:
        cap = rules.maximum
        found.append(MoneyLimit(cap.amount, cap.on_reach, cap.warn_at, "plan_maximum"))
    if spend_limit is not None:
        found.append(spend_limit)
    return found


def blocking_amount(limits: Iterable[MoneyLimit]) -> Decimal | None:
    """The lowest money limit that blocks, if any."""
    amounts = [limit.amount for limit in limits if limit.on_reach in BLOCKING]
    return min(amounts) if amounts else None


def unit_limits(rules: RuleFile) -> dict[str, Decimal]:
    """The unit limit of each outcome whose excess is over_limit (block or stop_billing)."""
    return {
        name: spec.limit.units
        for name, spec in rules.outcomes.items()
        if spec.limit is not None and spec.limit.on_reach in UNIT_BLOCKING
    }


def has_blocking_limits(rules: RuleFile, spend_limit: MoneyLimit | None) -> bool:
    return bool(unit_limits(rules)) or blocking_amount(money_limits(rules, spend_limit)) is not None


def sums(rules: RuleFile, outcome: str) -> bool:
    """Whether an outcome's units are the sum of its values (else one per outcome)."""
    spec = rules.outcomes.get(outcome)
    return spec is not None and isinstance(spec.measure, Sum)


def units_of(rules: RuleFile, outcome: str, value: Decimal | None) -> Decimal:
    """What one outcome adds to its outcome's units."""
    return (value or ZERO) if sums(rules, outcome) else ONE


@dataclass(slots=True)
class _Usage:
    quantity: Decimal = ZERO
    events: int = 0
    values: list[Decimal] = field(default_factory=list)


def spend(rules: RuleFile, usage: Mapping[str, MeasuredUsage]) -> Decimal:
    """The period's spend for this usage: its rounded charge lines, before minimum and cap."""
    priced = price_usage(rules, usage)
    return sum((line.amount for line in priced.lines if line.kind == "charge"), ZERO)


def needs_values(rules: RuleFile) -> bool:
    """Whether a charge prices each value (percentage): totals alone do not price it."""
    return any(charge.needs_values for charge in rules.charges)


@dataclass(frozen=True, slots=True)
class LimitCandidate:
    """A would-be counted outcome of the period."""

    ref: int
    outcome: str
    occurred_at: datetime
    event_id: str
    value: Decimal | None


def over_limit(
    rules: RuleFile, candidates: Sequence[LimitCandidate], amount: Decimal | None
) -> set[int]:
    """The refs of the candidates past a limit (see the module docstring)."""
    units_cap = unit_limits(rules)
    if amount is None and not units_cap:
        return set()
    usage: dict[str, _Usage] = {}
    over: set[int] = set()
    for candidate in sorted(candidates, key=lambda c: (c.occurred_at, c.event_id)):
        name = candidate.outcome
        current = usage.setdefault(name, _Usage())
        added = units_of(rules, name, candidate.value)
        cap = units_cap.get(name)
        if cap is not None and current.quantity + added > cap:
            over.add(candidate.ref)
            continue
        if amount is not None:
            trial = _measured(usage, name, added, candidate.value)
            if spend(rules, trial) > amount:
                over.add(candidate.ref)
                continue
        current.quantity += added
        current.events += 1
        if candidate.value is not None:
            current.values.append(candidate.value)
    return over


def _measured(
    usage: Mapping[str, _Usage], name: str, added: Decimal, value: Decimal | None
) -> dict[str, MeasuredUsage]:
    """The usage with one more outcome of `name`."""
    found: dict[str, MeasuredUsage] = {}
    for outcome, current in usage.items():
        values = list(current.values)
        quantity, events = current.quantity, current.events
        if outcome == name:
            quantity, events = quantity + added, events + 1
            if value is not None:
                values.append(value)
        found[outcome] = MeasuredUsage(quantity, events, lambda v=values: v)  # type: ignore[misc]
    return found


def remaining_units(
    rules: RuleFile,
    usage: Mapping[str, MeasuredUsage],
    outcome: str,
    amount: Decimal,
) -> Decimal | None:
    """How many more units of `outcome` fit under `amount` at the marginal price: the spent
    difference of one more unit. None when that price is not defined (zero, or a charge that
    prices each value)."""
    if needs_values(rules):
        return None
    now = spend(rules, usage)
    if now >= amount:
        return ZERO
    current = usage.get(outcome, MeasuredUsage())
    one_more = dict(usage)
    one_more[outcome] = MeasuredUsage(current.quantity + 1, current.events + 1)
    marginal = spend(rules, one_more) - now
    if marginal <= 0:
        return None
    return ((amount - now) / marginal).to_integral_value(rounding=ROUND_FLOOR)
