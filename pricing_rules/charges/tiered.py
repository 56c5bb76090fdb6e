"""Graduated and volume pricing over the same tiers, with Stripe's semantics.

Quantity zero falls in the first tier (Stripe: tiers count from 0 and `flat_amount` is "the
flat billing amount for an entire tier, regardless of the number of units in the tier"), so
a flat price on the first tier is owed even when nothing was used, and the unit part is 0.
OpenMeter-based billing docs say the same ("defining a flat fee in the first tier will
always cause the customer to be billed, regardless of usage") and Lago changed to it.
A plan that wants 0 at no usage puts the fee on a later tier or uses a `flat` charge.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from pricing_rules.charges.base import ZERO, ChargeAmount, TierAmount, UnitCharge, Usage
from pricing_rules.charges.tiers import Tiers, tier_amount


class TieredCharge(UnitCharge):
    """Tiers as the price: a `prices` entry is a list of tiers, or one unit price for all."""

    price_key: ClassVar[str] = "tiers"

    tiers: Tiers = Field(description="Ascending tiers; the last has up_to: null.")

    @classmethod
    def price_entry(cls, raw: Any) -> Any:
        return raw if isinstance(raw, list | tuple) else [{"up_to": None, "unit_price": raw}]


class GraduatedCharge(TieredCharge):
    """Each tier prices the units that fall in it; every tier reached adds its flat price."""

    position: ClassVar[int] = 30

    model: Literal["graduated"]

    def price(self, usage: Usage) -> ChargeAmount:
        paid = self.paid_units(usage.quantity)
        rows: list[TierAmount] = []
        lower = ZERO
        for number, tier in enumerate(self.tiers, start=1):
            if number > 1 and paid <= lower:
                break
            upper = paid if tier.up_to is None else min(paid, tier.up_to)
            units = max(upper - lower, ZERO)
            rows.append(tier_amount(number, tier, lower, units, tier.amount(units)))
            if tier.up_to is None:
                break
            lower = tier.up_to
        total = sum((row.amount for row in rows), ZERO)
        return ChargeAmount(
            quantity=usage.quantity,
            amount=total,
            tiers=tuple(rows),
            detail=self.describe(usage.quantity, "graduated"),
        )


class VolumeCharge(TieredCharge):
    """Every unit is priced at the tier the total falls in, plus that tier's flat price."""

    position: ClassVar[int] = 40

    model: Literal["volume"]

    def price(self, usage: Usage) -> ChargeAmount:
        paid = self.paid_units(usage.quantity)
        lower = ZERO
        for number, tier in enumerate(self.tiers, start=1):
            if tier.up_to is None or paid <= tier.up_to:
                amount = tier.amount(paid)
                return ChargeAmount(
                    quantity=usage.quantity,
                    amount=amount,
                    tiers=(tier_amount(number, tier, lower, paid, amount),),
                    detail=self.describe(usage.quantity, f"volume tier {number}"),
                )
            lower = tier.up_to
        raise AssertionError("validated tiers always end with an open tier")  # pragma: no cover
