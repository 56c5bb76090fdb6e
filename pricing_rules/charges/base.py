"""What every charge model shares: the usage it prices, the amount it returns, its base class.

One small interface for all models (as Lago does): `price(usage) -> ChargeAmount`. Amounts are
exact and unrounded; the invoice rounds each line once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pricing_rules.money import NonNegativeDecimal

ZERO = Decimal(0)

ChargeName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


@dataclass(frozen=True, slots=True)
class Usage:
    """What an outcome measured in a period.

    `values` (per-event values, given only to charges that declare `needs_values`) may be a
    generator streamed from a database: a charge iterates it at most once.
    """

    quantity: Decimal
    values: Iterable[Decimal] = ()
    events: int = 0


@dataclass(frozen=True, slots=True)
class TierAmount:
    """One tier's share of a tiered line; units count from the first paid unit."""

    tier: int
    first_unit: Decimal
    last_unit: Decimal | None
    units: Decimal
    unit_price: Decimal | None
    flat_price: Decimal | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ChargeAmount:
    """A priced line before rounding: the quantity to show, the exact amount, how it came."""

    quantity: Decimal
    amount: Decimal
    tiers: tuple[TierAmount, ...] = ()
    detail: str = ""


class FrozenModel(BaseModel):
    """Typed, immutable, and strict about unknown keys, like every section of a rule file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        serialize_by_alias=True,
    )


class ChargeBase(FrozenModel):
    """Base of every charge model.

    A model is a subclass whose `model` is a Literal (its key in rule files), defined in a
    module of `pricing_rules.charges`, which finds it there. Whatever the rest of the engine
    needs to know about a model it reads here, never from the model's name or class.
    """

    position: ClassVar[int] = 1_000
    """Where the model stands when the models are listed (the JSON Schema, the reference)."""
    prices_outcome: ClassVar[bool] = False
    """Whether the charge prices one outcome's usage, or stands alone like a platform fee."""
    needs_values: ClassVar[bool] = False
    """Whether `price` reads each event's value (`Usage.values`), which a database streams."""

    model: str
    name: ChargeName | None = Field(default=None, description="Line name shown on invoices.")

    @property
    def display_name(self) -> str:
        return self.name or self.default_name()

    @property
    def priced_outcome(self) -> str | None:
        """The outcome whose usage this charge prices; None when it prices none."""
        return None

    @property
    def valued_outcome(self) -> str | None:
        """The outcome whose per-event values `price` reads, when it reads them."""
        return self.priced_outcome if self.needs_values else None

    @abstractmethod
    def default_name(self) -> str:
        """The line name when the rule file gives none."""

    @abstractmethod
    def price(self, usage: Usage) -> ChargeAmount:
        """The exact, unrounded amount this charge asks for the given usage."""


class OutcomeCharge(ChargeBase):
    """A charge priced from one outcome's usage."""

    prices_outcome: ClassVar[bool] = True

    outcome: str = Field(description="Name of the outcome (under `outcomes:`) this charge prices.")

    @property
    def priced_outcome(self) -> str | None:
        return self.outcome

    def default_name(self) -> str:
        return f"{self.outcome} ({self.model})"


class UnitCharge(OutcomeCharge):
    """A charge on the outcome's quantity, after taking off the free units."""

    free_units: NonNegativeDecimal = Field(
        default=ZERO,
        description="Units given free each period; tiers and packs count from the first paid unit.",
    )

    def paid_units(self, quantity: Decimal) -> Decimal:
        return max(quantity - self.free_units, ZERO)

    def describe(self, quantity: Decimal, how: str) -> str:
        """ "120 units, 50 free, graduated"."""
        parts = [units_text(quantity)]
        if self.free_units:
            parts.append(f"{number_text(self.free_units)} free")
        parts.append(how)
        return ", ".join(parts)


def number_text(value: Decimal) -> str:
    """A quantity as people write it: 20, 2.5, 1000 (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def units_text(quantity: Decimal) -> str:
    return f"{number_text(quantity)} unit{'' if quantity == 1 else 's'}"
