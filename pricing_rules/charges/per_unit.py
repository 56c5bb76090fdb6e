"""A price per unit, optionally per group of units (per 5 users, rounded up or down)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from pricing_rules.charges.base import ChargeAmount, UnitCharge, Usage, number_text
from pricing_rules.money import Money

PositiveInt = Annotated[int, Field(strict=True, gt=0)]


class PerUnitCharge(UnitCharge):
    position: ClassVar[int] = 20
    price_key: ClassVar[str] = "unit_price"

    model: Literal["per_unit"]
    unit_price: Money = Field(description="Price of one unit (or of one group with divide_by).")
    divide_by: PositiveInt | None = Field(
        default=None, description="Bill per group of this many units instead of per unit."
    )
    round: Literal["up", "down"] = Field(
        default="up", description="How a partial group counts with divide_by."
    )

    def price(self, usage: Usage) -> ChargeAmount:
        paid = self.paid_units(usage.quantity)
        if self.divide_by is None:
            return ChargeAmount(
                quantity=usage.quantity,
                amount=paid * self.unit_price,
                detail=self.describe(usage.quantity, f"at {self.unit_price}"),
            )
        rounding = ROUND_CEILING if self.round == "up" else ROUND_FLOOR
        groups = (paid / Decimal(self.divide_by)).to_integral_value(rounding=rounding)
        how = f"groups of {self.divide_by} rounded {self.round}: {number_text(groups)}"
        return ChargeAmount(
            quantity=usage.quantity,
            amount=groups * self.unit_price,
            detail=self.describe(usage.quantity, how),
        )
