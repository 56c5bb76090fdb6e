"""A fixed fee per period, whatever the usage (a platform fee)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from pricing_rules.charges.base import ChargeAmount, ChargeBase, Usage
from pricing_rules.money import Money


class FlatCharge(ChargeBase):
    """`price` in the rule file; `amount` in Python, since `price()` is the pricing method."""

    position: ClassVar[int] = 10

    model: Literal["flat"]
    amount: Money = Field(alias="price", description="The fee charged every period.")

    def default_name(self) -> str:
        return "Flat fee"

    def price(self, usage: Usage) -> ChargeAmount:
        return ChargeAmount(quantity=Decimal(1), amount=self.amount, detail="flat fee")
