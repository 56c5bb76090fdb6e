"""Commitments across periods: units or an amount committed for a term of whole periods.

A plan's `commitment` commits the customer, over a term (a quarter, a year, "6 months")
billed period by period, either to a number of units of one outcome (`units`) or to an
amount of money spent at the plan's prices (`amount`).

- `units`: units under the commitment are billed at the committed `price`, units past it at
  the `overage` price (`unit_price` or graduated `tiers`).
- `amount`: the charges bill the plan's prices as usual; what a period spends (its subtotal:
  charge lines, minimum, cap) is drawn from the commitment, shown as a zero-amount
  `committed` line (how much was drawn, how much is left). Past the commitment, spend is
  billed at the overage `multiplier` of the plan's prices: an `overage` line adds
  `(multiplier - 1) x` the spend past it (a negative line for a multiplier under 1: a
  discount past the commitment), split from the exact cent where the term's spend crosses.

At the end of the term a shortfall true-up bills what was not used (`true_up: at_term_end`):
the unused units at the committed price, or the unused amount.

Pricing a period needs only where the term stood before it (`used_before`) and the period's
own quantity: the split at the crossing is exact (a `sum` outcome whose one event crosses
is split inside that event). `crossing_split` says which outcomes, in timestamp order,
fall on each side (`spend_split` for an amount: the outcome whose spend crosses it). The
lines come after the period's minimum and cap (the brief's order: charge lines, minimum,
cap, then commitments, then credits, then tax).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from pricing_rules.charges.base import FrozenModel, TierAmount, Usage
from pricing_rules.charges.tiered import GraduatedCharge
from pricing_rules.charges.tiers import Tiers
from pricing_rules.errors import RuleValueError
from pricing_rules.money import Money, minor_units, round_money
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
    """The price past the commitment. For units: one unit price, or graduated tiers counted
    over the term's overage (tier 1 prices the first units past the commitment). For an
    amount: a multiplier of the plan's prices ("1.25": 25% more, "0.80": 20% off)."""

    unit_price: Money | None = Field(default=None, description="Price of each unit past it.")
    tiers: Tiers | None = Field(
        default=None, description="Graduated tiers over the term's overage units."
    )
    multiplier: Annotated[Money, Field(gt=0)] | None = Field(
        default=None,
        description="An amount commitment's overage: spend past it is billed at the plan's "
        'prices times this ("1.25", "0.80").',
    )

    @model_validator(mode="after")
    def _has_one_price(self) -> Self:
        given = [p for p in (self.unit_price, self.tiers, self.multiplier) if p is not None]
        if len(given) != 1:
            raise RuleValueError(
                'overage needs a price: expected unit_price (such as "1.20") or tiers for a '
                'units commitment, multiplier (such as "1.25") for an amount commitment, '
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
    """Units of one outcome, or an amount of spend, committed over a term of whole billing
    periods."""

    term: TermMonths = Field(description='month, quarter, year or "N months".')
    units: dict[str, Annotated[Decimal, Field(gt=0)]] | None = Field(
        default=None,
        description="The committed outcome and its units over the term, such as "
        "{resolved_conversation: 12000}; or amount.",
        min_length=1,
    )
    amount: Money | None = Field(
        default=None,
        description='Money committed over the term ("120000.00"), spent at the plan\'s '
        "prices; or units.",
    )
    price: Money | None = Field(
        default=None, description="Price of each committed unit (units commitments)."
    )
    overage: Overage = Field(description="Price past the commitment.")
    true_up: Literal["at_term_end", "none"] = Field(
        default="at_term_end",
        description="at_term_end bills the unused units at the committed price (or the unused "
        "amount) on the invoice of the term's last period; none does not.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.units is None) == (self.amount is None):
            got = "both" if self.units is not None else "neither"
            raise RuleValueError(
                "a commitment commits units of one outcome or an amount of spend; expected "
                f"exactly one of units and amount, got {got}",
                ("amount",) if got == "both" else (),
            )
        if self.amount is not None:
            return self._amount_form(self.amount)
        if self.units is not None and len(self.units) > 1:
            raise RuleValueError(
                f"a commitment commits units of one outcome; expected one entry in units, "
                f"got {len(self.units)}",
                ("units",),
            )
        if self.price is None:
            raise RuleValueError(
                'a units commitment needs the price of each committed unit, such as "0.50"',
                ("price",),
            )
        if self.overage.multiplier is not None:
            raise RuleValueError(
                "a units commitment prices its overage per unit; expected unit_price or "
                "tiers, not multiplier (which is for an amount commitment)",
                ("overage", "multiplier"),
            )
        return self

    def _amount_form(self, amount: Decimal) -> Self:
        if amount <= 0:
            raise RuleValueError(
                f"a committed amount must be above zero, got {_text(amount)}", ("amount",)
            )
        if self.price is not None:
            raise RuleValueError(
                "an amount commitment is spent at the plan's prices; expected no price "
                "(price is each committed unit's, for units)",
                ("price",),
            )
        if self.overage.multiplier is None:
            key = "unit_price" if self.overage.unit_price is not None else "tiers"
            raise RuleValueError(
                "an amount commitment's overage is a multiplier of the plan's prices; "
                f'expected multiplier (such as "1.25"), not {key}',
                ("overage", key),
            )
        return self

    @property
    def by_amount(self) -> bool:
        return self.amount is not None

    @property
    def outcome(self) -> str:
        """The committed outcome (units commitments)."""
        return next(iter(self.units or {"": ZERO}))

    @property
    def committed_units(self) -> Decimal:
        """Units committed, or the amount committed (an amount commitment)."""
        if self.amount is not None:
            return self.amount
        return next(iter((self.units or {"": ZERO}).values()))

    @property
    def unit_price(self) -> Decimal:
        """The committed unit price; 1 for an amount (a unit is one of the currency)."""
        return self.price if self.price is not None else Decimal(1)

    def periods_per_term(self, interval: Interval) -> int | None:
        """How many billing periods make the term; None when it is not a whole number."""
        months = _INTERVAL_MONTHS.get(interval)
        if months is None or self.term % months:
            return None
        return self.term // months


def amount_problems(commitment: Any, currency: Any) -> list[RuleValueError]:
    """A committed amount with more decimals than the currency has (raw data)."""
    if not isinstance(commitment, dict) or not isinstance(currency, str):
        return []
    raw = commitment.get("amount")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        return []
    try:
        value, digits = Decimal(str(raw)), minor_units(currency)
    except (ArithmeticError, ValueError):
        return []  # reported by the field itself
    if not value.is_finite() or value == value.quantize(Decimal(1).scaleb(-digits)):
        return []
    return [
        RuleValueError(
            f"{raw} has more decimals than {currency} has ({digits}); expected an amount "
            f"such as {Decimal(120000).quantize(Decimal(1).scaleb(-digits))}",
            ("commitment", "amount"),
        )
    ]


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
    """Units used before the period; for an amount commitment, the term's spend before it."""
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
    """The committed, overage and true-up lines of a period, each rounded once. `quantity` is
    the committed outcome's units, or the period's spend (subtotal) for an amount."""
    if commitment.amount is not None:
        return amount_parts(commitment, commitment.amount, position, quantity, currency)
    assert commitment.price is not None
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


def amount_parts(
    commitment: Commitment, committed: Decimal, position: Position, spend: Decimal, currency: str
) -> list[CommitmentPart]:
    """An amount commitment's lines: the spend drawn from it (zero amount: the charge lines
    bill it), the overage adjustment of the spend past it, and the term's shortfall."""
    remaining = max(committed - position.used_before, ZERO)
    under = min(max(spend, ZERO), remaining)
    over = spend - under if spend > under else ZERO
    left = remaining - under
    total = _text(committed)
    parts = [
        CommitmentPart(
            "committed",
            under,
            ZERO,
            f"Commitment drawn ({_text(under)} of the {total} committed, {_text(left)} left)",
        )
    ]
    multiplier = commitment.overage.multiplier
    if over and multiplier is not None:
        parts.append(
            CommitmentPart(
                "overage",
                over,
                round_money(over * (multiplier - 1), currency),
                f"Commitment overage ({_text(over)} spent past the {total} committed, billed "
                f"at {_text(multiplier)}x the plan's prices)",
            )
        )
    spent = position.used_before + spend
    if position.ends_term and commitment.true_up == "at_term_end" and spent < committed:
        shortfall = committed - spent
        parts.append(
            CommitmentPart(
                "true_up",
                shortfall,
                round_money(shortfall, currency),
                f"Commitment shortfall true-up ({_text(shortfall)} of the {total} committed "
                "unspent)",
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


def spend_split(spend: Callable[[int], Decimal], count: int, remaining: Decimal) -> tuple[int, int]:
    """Where an amount commitment is crossed among a period's `count` outcomes in timestamp
    order, given `spend(k)`, the period's spend (its subtotal) with only its first k of them.

    Returns `(under, over)`: the first `under` outcomes count under the `remaining`
    commitment (the spend before each is below it) and the outcomes from index `over` on are
    past it (the spend after each is above it). As in `crossing_split`, the outcome whose
    spend straddles the crossing is on both sides, and one that adds nothing at the exact
    crossing is on neither. Found by search (spend evaluated O(log count) times), which
    takes spend to grow with the outcomes: it does under every model but a volume tier, whose
    lower price can make it fall; there the outcome found is one where spend passes the
    commitment.
    """
    known: dict[int, Decimal] = {}

    def at(k: int) -> Decimal:
        if k not in known:
            known[k] = spend(k)
        return known[k]

    def first(low: int, reached: Callable[[Decimal], bool]) -> int:
        """The first k in [low, count] whose spend has `reached` (the whole period's has),
        galloping from `low` before bisecting: a crossing early in the period prices only
        short prefixes."""
        high, step = low, 1
        while high < count and not reached(at(high)):
            low, high, step = high + 1, min(high + step, count), step * 2
        while low < high:
            middle = (low + high) // 2
            if reached(at(middle)):
                high = middle
            else:
                low = middle + 1
        return low

    total = at(count)
    if total < remaining:  # a period before the crossing: one pricing
        return count, count
    under = first(0, lambda spent: spent >= remaining)
    if total == remaining:
        return under, count
    return under, max(first(under, lambda spent: spent > remaining) - 1, 0)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")
