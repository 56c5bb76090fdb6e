"""What every charge model shares: the usage it prices, the amount it returns, its base class.

One small interface for all models (as Lago does): `price(usage) -> ChargeAmount`. Amounts are
exact and unrounded; the invoice rounds each line once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
    model_validator,
)

from pricing_rules.errors import RuleValueError, RuleValueErrors
from pricing_rules.money import NonNegativeDecimal
from pricing_rules.paths import Path

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
    groups: Mapping[str | None, Usage] = field(default_factory=dict)
    """The usage of each value of the charge's `group_by` path (None: the event had none)."""
    sums: PerEventSums | None = None
    """The charge's per-event figures already added up where the values are stored, given
    instead of `values` (see `PerEventSums`)."""


@dataclass(frozen=True, slots=True)
class PerEventSums:
    """A per-event charge's figures over a period's values, added up exactly by the store (a
    SQL SUM of the value and of the charge's per-event amount): pricing from them gives what
    pricing the values one by one gives, since that charge only adds its per-event amounts
    and rounds the line once."""

    events: int = 0
    value: Decimal = ZERO
    amount: Decimal = ZERO


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

    @property
    def group_path(self) -> str | None:
        """The path whose value splits this charge into one line per value (`group_by`)."""
        return None

    def price_groups(self, groups: Mapping[str | None, Usage]) -> list[GroupAmount]:
        """One amount per value of `group_path`; only charges that take group_by have it."""
        raise TypeError(f"a {self.model} charge is not priced per value")

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


GroupValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
DEFAULT_PRICE = "default"


@dataclass(frozen=True, slots=True)
class GroupAmount:
    """One value's line of a `group_by` charge (value None: events without the path)."""

    value: str | None
    amount: ChargeAmount


class UnitCharge(OutcomeCharge):
    """A charge on the outcome's quantity, after taking off the free units.

    With `group_by` the charge is priced once per value of that path, each value at its own
    entry of `prices` (an entry replaces the model's price key, `price_key`), or at
    `prices.default` for a value not listed. Each value is priced on its own, free units
    included, unless `tiers_across: all`, where the charge prices the volume of all values
    together and each value pays its share of that amount in proportion to its quantity.
    """

    model_config = ConfigDict(json_schema_extra=lambda schema, cls: _group_schema(schema, cls))

    price_key: ClassVar[str]
    """The rule-file key a `prices` entry stands for (`unit_price`, `tiers`, `price`)."""

    free_units: NonNegativeDecimal = Field(
        default=ZERO,
        description="Units given free each period; tiers and packs count from the first paid unit.",
    )
    group_by: Path | None = Field(
        default=None,
        description="Price each value of this event path on its own line, at its entry of prices.",
    )
    prices: dict[GroupValue, Any] | None = Field(
        default=None,
        description="Price of each value of group_by, and `default` for values not listed.",
    )
    tiers_across: Literal["value", "all"] = Field(
        default="value",
        description="value: tiers count each value's volume; all: the volume of all values.",
    )
    _by_value: dict[str, UnitCharge] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_price_from_prices(cls, data: Any) -> Any:
        """With group_by, the model's own price key is `prices.default`: checked here, on
        the raw mapping, so each fault is reported at the key to fix."""
        if not isinstance(data, dict) or not hasattr(cls, "price_key"):
            return data
        if isinstance(data.get("group_by"), list):
            raise RuleValueError(
                "group_by takes one event path; price a second dimension with an outcome per "
                "value (a where on its path), each grouped by the first",
                ("group_by",),
            )
        grouped, prices = data.get("group_by") is not None, data.get("prices")
        if not grouped:
            if prices is not None:
                raise RuleValueError(
                    "prices needs group_by: the event path whose value picks the price",
                    ("prices",),
                )
            if data.get("tiers_across", "value") != "value":
                raise RuleValueError(
                    "tiers_across needs group_by: it says how values share the tiers",
                    ("tiers_across",),
                )
            return data
        if prices is None:
            raise RuleValueError(
                "group_by needs prices: a price for each value, and a default for the others",
                ("group_by",),
            )
        if not isinstance(prices, dict):
            return data  # the field's own check says what prices must be
        if DEFAULT_PRICE not in prices:
            raise RuleValueError(
                "prices needs a default: the price of values it does not list", ("prices",)
            )
        if cls.price_key in data:
            raise RuleValueError(
                f"with group_by the price is in prices; move {cls.price_key} to prices.default",
                (cls.price_key,),
            )
        plain = {k: v for k, v in data.items() if k not in _GROUPING}
        entry = cls.price_entry(prices[DEFAULT_PRICE])
        try:
            cls.model_validate({**plain, cls.price_key: entry})
        except ValidationError as invalid:
            problems = _entry_problems(invalid, cls.price_key, DEFAULT_PRICE)
            if problems:
                raise RuleValueErrors(problems) from None
        return {**data, cls.price_key: entry}

    @classmethod
    def price_entry(cls, raw: Any) -> Any:
        """A `prices` entry as the value of `price_key` (tiered models widen a bare price)."""
        return raw

    @model_validator(mode="after")
    def _check_prices(self) -> Self:
        """Each listed value's charge, validated once like the charge itself and kept."""
        problems: list[RuleValueError] = []
        base = self.model_dump(by_alias=True, exclude=set(_GROUPING))
        for value, raw in (self.prices or {}).items():
            if value == DEFAULT_PRICE:
                continue
            try:
                self._by_value[value] = type(self).model_validate(
                    {**base, self.price_key: self.price_entry(raw)}
                )
            except ValidationError as invalid:
                problems.extend(_entry_problems(invalid, self.price_key, value))
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise RuleValueErrors(problems)
        return self

    @model_serializer(mode="wrap")
    def _without_default_price(self, handler: SerializerFunctionWrapHandler) -> Any:
        """With group_by the price key is `prices.default`'s, so a dump leaves it out and
        validates back (a plan's charge with an override's keys is checked that way)."""
        data = handler(self)
        if self.group_by is not None and isinstance(data, dict):
            field = type(self).model_fields.get(self.price_key)
            data.pop(self.price_key, None)
            for name, info in type(self).model_fields.items():
                if info.alias == self.price_key or (field is not None and info is field):
                    data.pop(name, None)
        return data

    @property
    def group_path(self) -> str | None:
        return self.group_by

    def for_value(self, value: str | None) -> UnitCharge:
        """The charge that prices `value`: its own prices entry, or the default."""
        by_value: dict[str, UnitCharge] = self.__pydantic_private__["_by_value"]  # type: ignore[index]
        return by_value.get(value, self) if value is not None else self

    def price_groups(self, groups: Mapping[str | None, Usage]) -> list[GroupAmount]:
        """One amount per value seen, in value order (events without the value last)."""
        values = sorted(groups, key=lambda v: (v is None, v or ""))
        if self.tiers_across == "value":
            return [GroupAmount(v, self.for_value(v).price(groups[v])) for v in values]
        volume = sum((groups[v].quantity for v in values), ZERO)
        result = []
        for value in values:
            usage = groups[value]
            whole = self.for_value(value).price(Usage(quantity=volume, events=usage.events))
            share = usage.quantity / volume if volume else Decimal(1) / len(values)
            detail = (
                f"{number_text(usage.quantity)} of {units_text(volume)} across values, "
                f"{whole.detail}"
            )
            result.append(
                GroupAmount(value, ChargeAmount(usage.quantity, whole.amount * share, (), detail))
            )
        return result

    def paid_units(self, quantity: Decimal) -> Decimal:
        return max(quantity - self.free_units, ZERO)

    def describe(self, quantity: Decimal, how: str) -> str:
        """ "120 units, 50 free, graduated"."""
        parts = [units_text(quantity)]
        if self.free_units:
            parts.append(f"{number_text(self.free_units)} free")
        parts.append(how)
        return ", ".join(parts)


_GROUPING = ("group_by", "prices", "tiers_across", "name")
"""What a value's own charge leaves out: it is priced alone, under the charge's name."""


def _entry_problems(invalid: ValidationError, price_key: str, value: str) -> list[RuleValueError]:
    """A `prices` entry's faults, located in the entry (it was validated as `price_key`)."""
    problems = []
    for error in invalid.errors(include_url=False):
        loc = error["loc"]
        if loc[:1] != (price_key,):
            continue
        where = ("prices", value, *loc[1:])
        cause = (error.get("ctx") or {}).get("error")
        causes = cause.errors if isinstance(cause, RuleValueErrors) else [cause]
        for each in causes:
            if isinstance(each, RuleValueError):
                problems.append(RuleValueError(each.message, (*where, *each.subpath)))
            else:
                message = str(each) if isinstance(each, ValueError) else error["msg"]
                problems.append(RuleValueError(message, where))
    return problems


def _group_schema(schema: dict[str, Any], cls: type[UnitCharge]) -> None:
    """In the JSON Schema: a `prices` entry is what the model's price key takes, and the
    price key is required only without group_by (with it, `prices.default` stands for it)."""
    properties = schema.get("properties", {})
    own = properties.get(cls.price_key) if hasattr(cls, "price_key") else None
    if own is None:
        return
    entry = {k: v for k, v in own.items() if k not in ("description", "title", "default")}
    prices = properties.get("prices", {})
    prices["anyOf"] = [
        {
            "type": "object",
            "additionalProperties": entry,
            "required": [DEFAULT_PRICE],
        },
        {"type": "null"},
    ]
    required = schema.get("required", [])
    if cls.price_key in required:
        required.remove(cls.price_key)
        schema["if"] = {"properties": {"group_by": {"type": "string"}}, "required": ["group_by"]}
        schema["then"] = {"required": ["prices"]}
        schema["else"] = {"required": [cls.price_key]}


def number_text(value: Decimal) -> str:
    """A quantity as people write it: 20, 2.5, 1000 (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def units_text(quantity: Decimal) -> str:
    return f"{number_text(quantity)} unit{'' if quantity == 1 else 's'}"
