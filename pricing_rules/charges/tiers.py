"""Price tiers as Stripe defines them: `up_to` inclusive, ascending, the last tier open.

The list is checked as a whole so that every fault is reported at once, each at its own
place (`(2, "up_to")` is the third tier's bound), for the loader to turn into a line number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from pricing_rules.charges.base import ZERO, FrozenModel, TierAmount
from pricing_rules.errors import RuleValueError, RuleValueErrors
from pricing_rules.money import Money, NonNegativeDecimal


class Tier(FrozenModel):
    up_to: NonNegativeDecimal | None = Field(
        default=None,
        description="Last unit of this tier, inclusive; null for the last, open tier.",
    )
    unit_price: Money | None = Field(default=None, description="Price of each unit in the tier.")
    flat_price: Money | None = Field(
        default=None, description="Price of reaching the tier, whatever the units in it."
    )

    @model_validator(mode="after")
    def _has_a_price(self) -> Self:
        if self.unit_price is None and self.flat_price is None:
            raise RuleValueError("a tier needs a unit_price, a flat_price or both")
        return self

    @property
    def unit_amount(self) -> Decimal:
        return self.unit_price if self.unit_price is not None else ZERO

    @property
    def flat_amount(self) -> Decimal:
        return self.flat_price if self.flat_price is not None else ZERO

    def amount(self, units: Decimal) -> Decimal:
        return units * self.unit_amount + self.flat_amount


def check_tiers(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    """Raise RuleValueError(s) for every fault of the list, located relative to the list."""
    if not tiers:
        raise RuleValueError("at least one tier is required; the last one with up_to: null")
    problems: list[RuleValueError] = []
    last = len(tiers) - 1
    previous: Decimal | None = None
    for index, tier in enumerate(tiers):
        bound = tier.up_to
        where = (index, "up_to")
        if bound is None:
            if index != last:
                problems.append(RuleValueError("only the last tier may have up_to: null", where))
            continue
        if index == last:
            problems.append(
                RuleValueError(
                    "the last tier must have up_to: null so every quantity has a price", where
                )
            )
        if previous is None and bound <= 0:
            problems.append(
                RuleValueError(f"tier {index + 1} up_to {bound} must be greater than 0", where)
            )
        elif previous is not None and bound <= previous:
            problems.append(
                RuleValueError(
                    f"tier {index + 1} up_to {bound} must be greater than "
                    f"the previous tier's {previous}",
                    where,
                )
            )
        previous = bound
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RuleValueErrors(problems)
    return tiers


Tiers = Annotated[tuple[Tier, ...], AfterValidator(check_tiers)]
"""An ascending list of tiers ending with an open one."""


def tier_amount(
    number: int, tier: Tier, lower: Decimal, units: Decimal, amount: Decimal
) -> TierAmount:
    """The detail row of tier `number` (1-based) covering units above `lower`."""
    return TierAmount(
        tier=number,
        first_unit=lower + 1,
        last_unit=tier.up_to,
        units=units,
        unit_price=tier.unit_price,
        flat_price=tier.flat_price,
        amount=amount,
    )
