"""Packs of units: every started pack is billed in full (Stripe's package pricing)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import ClassVar, Literal

from pydantic import Field

from pricing_rules.charges.base import ChargeAmount, UnitCharge, Usage, number_text
from pricing_rules.charges.per_unit import PositiveInt
from pricing_rules.money import Money


class PackageCharge(UnitCharge):
    """`price` in the rule file; `package_price` in Python, since `price()` is the method."""

    position: ClassVar[int] = 50
    price_key: ClassVar[str] = "price"

    model: Literal["package"]
    package_size: PositiveInt = Field(description="Units in one pack.")
    package_price: Money = Field(alias="price", description="Price of one pack.")

    def price(self, usage: Usage) -> ChargeAmount:
        paid = self.paid_units(usage.quantity)
        packs = (paid / Decimal(self.package_size)).to_integral_value(rounding=ROUND_CEILING)
        how = f"packs of {self.package_size}: {number_text(packs)}"
        return ChargeAmount(
            quantity=usage.quantity,
            amount=packs * self.package_price,
            detail=self.describe(usage.quantity, how),
        )
