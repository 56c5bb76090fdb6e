"""Commitments in a simulation: each side carries its own consumption across the periods of
a term, so a proposal that adds, changes or removes a commitment shows what it would have
billed (committed, overage and true-up lines) against what was billed.

The term starts with the customer's first subscription to the plan, as at the close. A
range that starts inside a term counts that term's consumption from the range's start (the
periods before it are not read), so its first periods may be priced as if less was used.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from metering.surfaces.simulation.windows import Side, Window
from pricing_rules.commitments import Position, term_containing
from pricing_rules.outcomes import CustomerUsage
from pricing_rules.pricing import PricedInvoice
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)


class TermConsumption:
    """One customer's units (or spend) used per side and term, fed period by period."""

    def __init__(self, anchor: datetime | None) -> None:
        self.anchor = anchor
        self.used: dict[tuple[Side, datetime], Decimal] = {}

    def position(self, window: Window) -> tuple[Position | None, tuple[Side, datetime] | None]:
        """The window's position in its term, and the key its units add up under."""
        rules: RuleFile = window.plan.rules
        commitment = rules.commitment
        if commitment is None or self.anchor is None:
            return None, None
        periods = commitment.periods_per_term(rules.billing.interval)
        if periods is None:
            return None, None
        billing = rules.billing
        term = term_containing(
            self.anchor, window.period.start, billing.interval, billing.timezone, periods
        )
        key = (window.side, term.start)
        used = self.used.get(key, ZERO)
        return Position(used_before=used, ends_term=window.period.end >= term.end), key

    def add(
        self,
        key: tuple[Side, datetime] | None,
        rules: RuleFile,
        usage: CustomerUsage,
        priced: PricedInvoice,
    ) -> None:
        """Add the window's units of the committed outcome, or its spend (the subtotal at
        the plan's prices) for an amount commitment."""
        if key is None or rules.commitment is None:
            return
        if rules.commitment.by_amount:
            quantity = priced.subtotal
        else:
            found = usage.outcomes.get(rules.commitment.outcome)
            quantity = found.quantity if found is not None else ZERO
        self.used[key] = self.used.get(key, ZERO) + quantity
