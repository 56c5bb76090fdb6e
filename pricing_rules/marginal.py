"""What each outcome adds to its charge: the marginal price of each unit in billing order.

An outcome's share of a line is the line's amount with it minus the amount without it, taking
the outcomes in the order the close bills them: `price(q_1 + ... + q_i) - price(q_1 + ... +
q_{i-1})`. That is exact for every model: the free units cost 0, a graduated tier prices the
units that fall in it, a package costs its price to the first unit that opens it and 0 to the
rest, and a volume tier can make an outcome that crosses a bound cost less than nothing (all
units then move to the cheaper tier). The shares add up to the line's unrounded amount. A
charge that prices each event on its own (percentage) gives each outcome its own amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pricing_rules.charges import ChargeBase, Usage

ZERO = Decimal(0)


def added_amounts(charge: ChargeBase, contributions: Sequence[Decimal]) -> list[Decimal]:
    """What each outcome adds to `charge`'s unrounded amount, given what each contributes to
    the measured quantity (1 for a count, its value for a sum), in billing order."""
    if charge.needs_values:
        nothing = charge.price(Usage(quantity=ZERO)).amount
        return [
            charge.price(Usage(quantity=value, values=(value,), events=1)).amount - nothing
            for value in contributions
        ]
    added = []
    cumulative = ZERO
    before = charge.price(Usage(quantity=ZERO)).amount
    for value in contributions:
        cumulative += value
        after = charge.price(Usage(quantity=cumulative)).amount
        added.append(after - before)
        before = after
    return added
