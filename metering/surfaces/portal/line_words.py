"""An invoice line in plain words, as the customer reads it, with its free units as a tier row.

The stored detail says "28 units, 1 free, graduated": pricing jargon without a currency. Here
the same line reads "28 resolved conversations, first one free; 1-1,000 at $0.99, 1,001 and
up at $0.79" (with an en dash), every amount in the line's currency, named by the rule
file's charge name when it has one (else the outcome's name in words). Nothing is priced
again: amounts come from the line's stored detail, bounds and prices from the rule file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from metering.platform.web.format import Formatter
from metering.platform.web.templating import humanize
from pricing_rules.charges import ChargeBase
from pricing_rules.charges.base import UnitCharge
from pricing_rules.charges.flat import FlatCharge
from pricing_rules.charges.package import PackageCharge
from pricing_rules.charges.per_unit import PerUnitCharge
from pricing_rules.charges.percentage import PercentageCharge
from pricing_rules.charges.tiered import TieredCharge, VolumeCharge
from pricing_rules.measures import Count
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)
DASH = "\u2013"


@dataclass(frozen=True)
class TierRow:
    """One row of a line's tier table; the free units are a row of their own."""

    label: str
    units: Decimal
    unit_price: Decimal | None
    flat_price: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class LineWords:
    name: str
    text: str
    tiers: list[TierRow]


def charge_of(rules: RuleFile, charge_key: str) -> ChargeBase | None:
    """The rule file's charge a line prices, from its key (`charge:<index>:...`)."""
    parts = charge_key.split(":", 2)
    if len(parts) < 2 or parts[0] != "charge" or not parts[1].isdigit():
        return None
    index = int(parts[1])
    return rules.charges[index] if index < len(rules.charges) else None


def outcome_name(rules: RuleFile, outcome: str) -> str:
    """An outcome's display name: the name of the charge pricing it, else its name in words."""
    for charge in rules.charges:
        if charge.priced_outcome == outcome and charge.name:
            return charge.name
    return humanize(outcome)


def _plural(words: str, count: Decimal) -> str:
    return words if count == 1 or words.endswith("s") else f"{words}s"


def _what(rules: RuleFile, outcome: str, quantity: Decimal, fmt: Formatter) -> str:
    """`28 resolved conversations` for a count, `1,000 of pipeline value` for a measure."""
    words = humanize(outcome).lower()
    spec = rules.outcomes.get(outcome)
    if spec is None or isinstance(spec.measure, Count):
        return f"{fmt.number(quantity)} {_plural(words, quantity)}"
    return f"{fmt.number(quantity)} of {words}"


def _free(free: Decimal, fmt: Formatter) -> str:
    return "first one free" if free == 1 else f"first {fmt.number(free)} free"


def _tier_bounds(charge: TieredCharge, fmt: Formatter) -> list[str]:
    bounds, lower = [], ZERO
    for tier in charge.tiers:
        first = fmt.number(lower + 1)
        span = f"{first} and up" if tier.up_to is None else f"{first}{DASH}{fmt.number(tier.up_to)}"
        prices = []
        if tier.unit_price is not None:
            prices.append(f"at {fmt.price(tier.unit_price)}")
        if tier.flat_price:
            prices.append(f"plus {fmt.price(tier.flat_price)}")
        bounds.append(f"{span} {' '.join(prices) or 'free'}")
        if tier.up_to is not None:
            lower = tier.up_to
    return bounds


def _how(charge: ChargeBase, fmt: Formatter) -> str:
    if isinstance(charge, VolumeCharge):
        return "every unit at the price of the tier the total reaches: " + ", ".join(
            _tier_bounds(charge, fmt)
        )
    if isinstance(charge, TieredCharge):
        return ", ".join(_tier_bounds(charge, fmt))
    if isinstance(charge, PackageCharge):
        return f"packs of {fmt.number(charge.package_size)} at {fmt.price(charge.package_price)}"
    if isinstance(charge, PerUnitCharge):
        if charge.divide_by:
            return (
                f"{fmt.price(charge.unit_price)} per {fmt.number(charge.divide_by)}, "
                f"rounded {charge.round}"
            )
        return f"{fmt.price(charge.unit_price)} each"
    if isinstance(charge, PercentageCharge):
        bounds = []
        if charge.per_event_min is not None:
            bounds.append(f"at least {fmt.price(charge.per_event_min)}")
        if charge.per_event_max is not None:
            bounds.append(f"at most {fmt.price(charge.per_event_max)}")
        return f"{fmt.number(charge.rate)}% of each" + (
            f", {' and '.join(bounds)}" if bounds else ""
        )
    return ""


def _tier_rows(
    detail: Mapping[str, Any], charge: ChargeBase | None, quantity: Decimal
) -> list[TierRow]:
    """The free units first (their own row), then each tier that billed units."""
    rows = []
    free = charge.free_units if isinstance(charge, UnitCharge) else ZERO
    if free and quantity:
        rows.append(TierRow("Free", min(free, quantity), ZERO, None, ZERO))
    for index, tier in enumerate(detail.get("tiers") or []):
        if not isinstance(tier, dict):
            continue
        units = Decimal(str(tier.get("units") or 0))
        if units == 0 and index > 0:
            continue
        first, last = tier.get("first_unit"), tier.get("last_unit")
        if last is None and first is not None:
            last = str(Decimal(first) + units - 1)
        label = f"Tier {tier.get('tier', index + 1)}"
        if first is not None and last is not None and units:
            label += f": {Decimal(first).normalize():f}{DASH}{Decimal(last).normalize():f}"
        rows.append(
            TierRow(
                label,
                units,
                None if tier.get("unit_price") is None else Decimal(tier["unit_price"]),
                None if tier.get("flat_price") is None else Decimal(tier["flat_price"]),
                Decimal(str(tier.get("amount") or 0)),
            )
        )
    return rows


def describe(
    rules: RuleFile,
    *,
    kind: str,
    charge_key: str,
    outcome: str | None,
    quantity: Decimal | None,
    detail: Mapping[str, Any],
    fmt: Formatter,
) -> LineWords:
    """A line of an invoice or of the live rating in the customer's words."""
    charge = charge_of(rules, charge_key) if kind == "charge" else None
    if kind == "minimum" and rules.minimum is not None:
        return LineWords("Minimum spend true-up", f"period minimum {fmt.money(rules.minimum)}", [])
    if kind == "maximum" and rules.maximum is not None:
        return LineWords("Period cap", f"period cap {fmt.money(rules.maximum.amount)}", [])
    if charge is None or isinstance(charge, FlatCharge) or outcome is None:
        name = charge.display_name if charge is not None else str(detail.get("text", ""))
        text = f"flat fee {fmt.money(charge.amount)}" if isinstance(charge, FlatCharge) else ""
        return LineWords(name, text or str(detail.get("text", "")), [])
    name = charge.name or humanize(outcome)
    group = detail.get("group")
    if isinstance(group, dict):
        name += f" ({group.get('value') or 'none'})"
        if isinstance(charge, UnitCharge) and charge.tiers_across == "value":
            # Each value is priced at its own entry of `prices`: say that price, not the default.
            charge = charge.for_value(group.get("value"))
    amount = quantity if quantity is not None else ZERO
    parts = [_what(rules, outcome, amount, fmt)]
    if isinstance(charge, UnitCharge) and charge.free_units:
        parts.append(_free(charge.free_units, fmt))
    text = ", ".join(parts)
    how = _how(charge, fmt)
    if how:
        text += f"; {how}"
    return LineWords(name, text, _tier_rows(detail, charge, amount))
