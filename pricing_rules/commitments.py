"""Commitments across periods: units committed for a term of whole billing periods.

A plan's `commitment` commits the customer to a number of units of one outcome over a term
(a quarter, a year, "6 months") billed period by period: units under the commitment are
billed at the committed `price`, units past it at the `overage` price, and at the end of the
term a shortfall true-up bills what was not used (`true_up: at_term_end`).

Pricing a period needs only where the term stood before it (`used_before`) and the period's
own quantity: the split at the crossing is exact (a `sum` outcome whose one event crosses
is split inside that event). `crossing_split` says which outcomes, in timestamp order,
fall on each side. The lines come after the period's minimum and cap (the brief's order:
charge lines, minimum, cap, then commitments, then credits, then tax).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from pricing_rules.charges.base import FrozenModel, TierAmount, Usage
from pricing_rules.charges.tiered import GraduatedCharge
from pricing_rules.charges.tiers import Tiers
from pricing_rules.errors import RuleValueError
from pricing_rules.money import Money, round_money
from pricing_rules.periods import Interval, Period, next_period, period_containing

ZERO = Decimal(0)
K = TypeVar("K")
_MONTHS_OF: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
_TERM_FORM = re.compile(r"^\s*([1-9][0-9]{0,2})\s+months?\s*$")
_INTERVAL_MONTHS: dict[Interval, int] = {"month": 1, "quarter": 3, "year": 12}


def _term_months(value: Any) -> int:
    """`year`, `quarter`, `month` or "N months" as a number of months."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        if value in _MONTHS_OF:
            return _MONTHS_OF[value]
        found = _TERM_FORM.match(value)
        if found:
            return int(found.group(1))
    raise ValueError(
        f'expected year, quarter, month or "N months" (such as "6 months"), got {value!r}'
    )


TermMonths = Annotated[
    int,
    BeforeValidator(_term_months),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": ["month", "quarter", "year"]},
                {"type": "string", "pattern": r"^[1-9][0-9]{0,2} months?$"},
            ],
            "description": 'Length of the term: month, quarter, year or "N months".',
        }
    ),
]


class Overage(FrozenModel):
    """The price of units past the commitment: one unit price, or graduated tiers counted
    over the term's overage (tier 1 prices the first units past the commitment)."""

    unit_price: Money | None = Field(default=None, description="Price of each unit past it.")
    tiers: Tiers | None = Field(
        default=None, description="Graduated tiers over the term's overage units."
    )

    @model_validator(mode="after")
    def _has_one_price(self) -> Self:
        if (self.unit_price is None) == (self.tiers is None):
            raise RuleValueError(
                'overage needs a price: expected unit_price (such as "1.20") or tiers, '
                "exactly one of them"
            )
        return self

    def amount(self, before: Decimal, units: Decimal) -> tuple[Decimal, tuple[TierAmount, ...]]:
        """The exact price of `units` overage units after `before` of them in the term."""
        if self.unit_price is not None:
            return units * self.unit_price, ()
        graduated = GraduatedCharge(model="graduated", outcome="overage", tiers=self.tiers or ())
        total = graduated.price(Usage(quantity=before + units))
        earlier = graduated.price(Usage(quantity=before))
        return total.amount - earlier.amount, total.tiers


class Commitment(FrozenModel):
    """Units of one outcome committed over a term of whole billing periods."""

    term: TermMonths = Field(description='month, quarter, year or "N months".')
    units: dict[str, Annotated[Decimal, Field(gt=0)]] = Field(
        description="The committed outcome and its units over the term, such as "
        "{resolved_conversation: 12000}.",
        min_length=1,
    )
    price: Money = Field(description="Price of each committed unit.")
    overage: Overage = Field(description="Price of the units past the commitment.")
    true_up: Literal["at_term_end", "none"] = Field(
        default="at_term_end",
        description="at_term_end bills the unused units at the committed price on the "
        "invoice of the term's last period; none does not.",
    )

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        if len(self.units) > 1:
            raise RuleValueError(
                f"a commitment commits units of one outcome; expected one entry in units, "
                f"got {len(self.units)}",
                ("units",),
            )
        return self

    @property
    def outcome(self) -> str:
        return next(iter(self.units))

    @property
    def committed_units(self) -> Decimal:
        return next(iter(self.units.values()))

    def periods_per_term(self, interval: Interval) -> int | None:
        """How many billing periods make the term; None when it is not a whole number."""
        months = _INTERVAL_MONTHS.get(interval)
        if months is None or self.term % months:
            return None
        return self.term // months


def term_problems(commitment: Any, interval: Any) -> list[RuleValueError]:
    """A term that is not a whole number of the plan's billing periods (raw data)."""
    if not isinstance(commitment, dict) or "term" not in commitment:
        return []
    try:
        months = _term_months(commitment["term"])
    except ValueError:
        return []  # reported by the field itself
    interval = interval if isinstance(interval, str) else "month"
    per = _INTERVAL_MONTHS.get(interval)
    if per is not None and months % per == 0:
        return []
    return [
        RuleValueError(
            f"a term of {months} month(s) is not a whole number of {interval} billing periods; "
            f"expected a term made of whole periods (billing.interval is {interval})",
            ("commitment", "term"),
        )
    ]


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a subscription: [start, end), and the periods it is made of."""

    start: datetime
    end: datetime
    number: int
    """1 for the first term of the subscription."""


def term_containing(
    anchor: datetime, instant: datetime, interval: Interval, timezone: str, periods: int
) -> Term:
    """The term containing `instant` of a subscription that started at `anchor`: the term
    starts with the subscription and runs in whole billing periods (the first, maybe cut by
    the subscription's start, counts as one)."""
    period: Period = period_containing(anchor, interval, timezone)
    start, number = anchor, 1
    while True:
        for _ in range(periods):
            end = period.end
            period = next_period(period, interval, timezone)
        if instant < end:
            return Term(start, end, number)
        start, number = end, number + 1


@dataclass(frozen=True, slots=True)
class Position:
    """Where a period stands in its term: the units used before it, and whether it is the
    term's last period (which carries the shortfall true-up)."""

    used_before: Decimal = ZERO
    ends_term: bool = False


@dataclass(frozen=True, slots=True)
class CommitmentPart:
    """One commitment line before it becomes a priced line."""

    part: Literal["committed", "overage", "true_up"]
    quantity: Decimal
    amount: Decimal
    description: str
    tiers: tuple[TierAmount, ...] = ()


def commitment_parts(
    commitment: Commitment, position: Position, quantity: Decimal, currency: str
) -> list[CommitmentPart]:
    """The committed, overage and true-up lines of a period, each rounded once."""
    committed_units = commitment.committed_units
    remaining = max(committed_units - position.used_before, ZERO)
    under = min(quantity, remaining)
    over = quantity - under
    overage_before = max(position.used_before - committed_units, ZERO)
    outcome = commitment.outcome
    parts = [
        CommitmentPart(
            "committed",
            under,
            round_money(under * commitment.price, currency),
            f"{outcome} (committed, {_text(under)} at {commitment.price})",
        )
    ]
    if over:
        amount, tiers = commitment.overage.amount(overage_before, over)
        price = commitment.overage.unit_price
        how = f" at {price}" if price is not None else ", graduated"
        parts.append(
            CommitmentPart(
                "overage",
                over,
                round_money(amount, currency),
                f"{outcome} (overage, {_text(over)} past the {_text(committed_units)} "
                f"committed{how})",
                tiers,
            )
        )
    used = position.used_before + quantity
    if position.ends_term and commitment.true_up == "at_term_end" and used < committed_units:
        shortfall = committed_units - used
        parts.append(
            CommitmentPart(
                "true_up",
                shortfall,
                round_money(shortfall * commitment.price, currency),
                f"Commitment shortfall true-up ({_text(shortfall)} of "
                f"{_text(committed_units)} {outcome} unused)",
            )
        )
    return parts


def crossing_split(
    remaining: Decimal, units: Sequence[tuple[K, Decimal]]
) -> tuple[list[K], list[K]]:
    """Outcomes (key, units) in timestamp order split at the crossing: the ones that count
    under the `remaining` commitment, and the ones past it; an outcome whose units straddle
    the crossing is on both sides."""
    under: list[K] = []
    over: list[K] = []
    left = remaining
    for key, amount in units:
        if left > 0:
            under.append(key)
        if amount > left:
            over.append(key)
        left -= amount
    return under, over


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")
