"""A percentage of each event's value, clamped per event, then summed (no rounding per event)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from pricing_rules.charges.base import (
    ZERO,
    ChargeAmount,
    OutcomeCharge,
    PerEventSums,
    Usage,
    number_text,
)
from pricing_rules.errors import RuleValueError
from pricing_rules.money import Money, NonNegativeDecimal

HUNDRED = Decimal(100)


class PercentageCharge(OutcomeCharge):
    position: ClassVar[int] = 60
    needs_values: ClassVar[bool] = True

    model: Literal["percentage"]
    rate: NonNegativeDecimal = Field(description='Percent of each event\'s value, e.g. "1.5".')
    per_event_min: Money | None = Field(default=None, description="Least charged per event.")
    per_event_max: Money | None = Field(default=None, description="Most charged per event.")
    per_event_fee: Money | None = Field(
        default=None, description="Fixed fee added to every event after the min and max."
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Self:
        low, high = self.per_event_min, self.per_event_max
        if low is not None and high is not None and low > high:
            raise RuleValueError(
                f"per_event_min {low} is above per_event_max {high}", ("per_event_min",)
            )
        return self

    def event_amount(self, value: Decimal) -> Decimal:
        """What one event costs. A negative value (a refund) earns no percentage."""
        amount = max(value, ZERO) * self.rate / HUNDRED
        if self.per_event_min is not None:
            amount = max(amount, self.per_event_min)
        if self.per_event_max is not None:
            amount = min(amount, self.per_event_max)
        if self.per_event_fee is not None:
            amount += self.per_event_fee
        return amount

    def add_up(self, values: Iterable[Decimal]) -> PerEventSums:
        """The events, their values and their amounts (`event_amount`), added up."""
        total_value = ZERO
        total_amount = ZERO
        events = 0
        for value in values:
            total_value += value
            total_amount += self.event_amount(value)
            events += 1
        return PerEventSums(events, total_value, total_amount)

    def price(self, usage: Usage) -> ChargeAmount:
        sums = usage.sums if usage.sums is not None else self.add_up(usage.values)
        events = sums.events
        return ChargeAmount(
            quantity=sums.value,
            amount=sums.amount,
            detail=(
                f"{events} event{'' if events == 1 else 's'}, "
                f"{number_text(self.rate)}% of {number_text(sums.value)}"
            ),
        )
