"""From measured usage to invoice lines: each charge priced, rounded once, then min and cap.

The amounts of charge models are unrounded; a line is rounded here, once, half-up to the
currency's minor unit, and the total is the sum of rounded lines. The minimum true-up and the
cap compare against that rounded subtotal, so the printed lines always add up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pricing_rules.charges import TierAmount, Usage
from pricing_rules.money import round_money
from pricing_rules.rules import RuleFile

LineKind = Literal["charge", "minimum", "maximum"]
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PricedLine:
    charge: str
    kind: LineKind
    outcome: str | None
    quantity: Decimal
    amount: Decimal
    tiers: tuple[TierAmount, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PricedInvoice:
    currency: str
    lines: tuple[PricedLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True, slots=True)
class MeasuredUsage:
    """An outcome's measured quantity, its billable count, and its per-event values.

    `values` is a callable so a database can stream them only for charges that need them.
    """

    quantity: Decimal = ZERO
    events: int = 0
    values: Callable[[], Iterable[Decimal]] = tuple


NO_USAGE = MeasuredUsage()


def price_usage(rules: RuleFile, usage: Mapping[str, MeasuredUsage]) -> PricedInvoice:
    """Price one customer's period: one line per charge, then the minimum or cap line."""
    currency = rules.currency
    lines: list[PricedLine] = []
    for charge in rules.charges:
        outcome = charge.priced_outcome
        if outcome is None:
            priced = charge.price(Usage(quantity=Decimal(1)))
        else:
            measured = usage.get(outcome, NO_USAGE)
            values = measured.values() if charge.needs_values else ()
            priced = charge.price(
                Usage(quantity=measured.quantity, values=values, events=measured.events)
            )
        lines.append(
            PricedLine(
                charge=charge.display_name,
                kind="charge",
                outcome=outcome,
                quantity=priced.quantity,
                amount=round_money(priced.amount, currency),
                tiers=priced.tiers,
                detail=priced.detail,
            )
        )
    subtotal = sum((line.amount for line in lines), ZERO)
    if rules.minimum is not None and subtotal < rules.minimum:
        lines.append(
            _bound_line("minimum", "Minimum spend true-up", rules.minimum, subtotal, currency)
        )
    cap = rules.maximum
    if cap is not None and cap.on_reach == "stop_billing" and subtotal > cap.amount:
        lines.append(_bound_line("maximum", "Period cap", cap.amount, subtotal, currency))
    return PricedInvoice(currency, tuple(lines))


def _bound_line(
    kind: LineKind, charge: str, bound: Decimal, subtotal: Decimal, currency: str
) -> PricedLine:
    """The line that brings the subtotal to the period minimum or down to the cap."""
    return PricedLine(
        charge=charge,
        kind=kind,
        outcome=None,
        quantity=Decimal(1),
        amount=round_money(bound - subtotal, currency),
        detail=f"period {kind} {bound}",
    )
