"""What an event cost the vendor to produce: a money amount, or tokens priced by the rule file.

An event's optional `cost` takes one of two shapes:

* money: `{"amount": "0.0123", "currency": "usd"}`;
* tokens: `{"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300}`, priced with the
  plan version's `costs.models` table.

The shape is checked when the event is received (`parse_cost`), so a malformed cost is an
error the sender sees at once. Whether it can be priced depends on the plan version in force,
so an unknown model or a foreign currency is not an ingestion error: `event_cost` says why it
could not be priced and reports carry it as unpriced cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pricing_rules.money import check_currency, parse_decimal

if TYPE_CHECKING:
    from pricing_rules.rules import RuleFile

_MONEY_KEYS = frozenset({"amount", "currency"})
_TOKEN_KEYS = frozenset({"model", "input_tokens", "output_tokens"})
MAX_MODEL_LENGTH = 200


@dataclass(frozen=True, slots=True)
class MoneyCost:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class TokenCost:
    model: str
    input_tokens: int
    output_tokens: int


Cost = MoneyCost | TokenCost


class CostFormatError(ValueError):
    """A malformed `cost`; `field` names the member below `cost` that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class PricedCost:
    """The cost in the plan's currency (unrounded), or why it cannot be priced."""

    amount: Decimal | None
    problem: str | None = None


def parse_cost(cost: Mapping[str, Any]) -> Cost:
    """The cost an event carries; CostFormatError names the member that is malformed."""
    if len(cost) == 3:  # the usual token cost, checked in one step (one per model call)
        model, used, made = cost.get("model"), cost.get("input_tokens"), cost.get("output_tokens")
        if (
            type(model) is str
            and type(used) is int
            and type(made) is int
            and used >= 0
            and made >= 0
            and len(model) <= MAX_MODEL_LENGTH
            and model.strip()
        ):
            return TokenCost(model, used, made)
    keys = set(cost)
    if "amount" in keys or "currency" in keys:
        _only(keys, _MONEY_KEYS, "a money cost")
        return MoneyCost(_amount(cost.get("amount")), _currency(cost.get("currency")))
    if "model" in keys or keys & _TOKEN_KEYS:
        _only(keys, _TOKEN_KEYS, "a token cost")
        model = cost.get("model")
        if not isinstance(model, str) or not model.strip():
            raise CostFormatError("model", "expected the model's name as a non-empty string")
        if len(model) > MAX_MODEL_LENGTH:
            raise CostFormatError("model", f"is longer than {MAX_MODEL_LENGTH} characters")
        return TokenCost(model, _tokens(cost, "input_tokens"), _tokens(cost, "output_tokens"))
    raise CostFormatError(
        "",
        'expected {"amount": "0.0123", "currency": "usd"} or '
        '{"model": "...", "input_tokens": 1200, "output_tokens": 300}',
    )


def event_cost(rules: RuleFile, cost: Mapping[str, Any] | None) -> PricedCost | None:
    """The cost of an event under `rules`; None when the event carries none."""
    if cost is None:
        return None
    try:
        parsed = parse_cost(cost)
    except CostFormatError as error:
        return PricedCost(None, f"malformed cost: {error.message}")
    return price_cost(rules, parsed)


def price_cost(rules: RuleFile, parsed: Cost) -> PricedCost:
    """The cost under `rules` of a parsed cost (one event's, or the sum of several: prices
    are linear, so pricing a sum of tokens equals summing each event's price)."""
    if isinstance(parsed, MoneyCost):
        if parsed.currency != rules.currency:
            return PricedCost(
                None, f"cost is in {parsed.currency}, the plan bills in {rules.currency}"
            )
        return PricedCost(parsed.amount)
    prices = rules.costs.models.get(parsed.model) if rules.costs else None
    if prices is None:
        return PricedCost(None, f"model {parsed.model!r} has no token prices in the rule file")
    amount = (
        parsed.input_tokens * prices.input + parsed.output_tokens * prices.output
    ) / prices.per
    return PricedCost(amount)


def _only(keys: set[str], allowed: frozenset[str], shape: str) -> None:
    unknown = sorted(keys - allowed)
    if unknown:
        raise CostFormatError(
            unknown[0], f"unknown member in {shape}; expected only {', '.join(sorted(allowed))}"
        )
    missing = sorted(allowed - keys)
    if missing:
        raise CostFormatError(missing[0], f"is required in {shape}")


def _amount(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # JSON numbers: their shortest text is what the sender wrote
    try:
        amount = parse_decimal(value)
    except ValueError as error:
        raise CostFormatError("amount", str(error)) from None
    if amount < 0:
        raise CostFormatError("amount", f"must not be negative, got {amount}")
    return amount


def _currency(value: Any) -> str:
    try:
        return check_currency(value)
    except ValueError as error:
        raise CostFormatError("currency", str(error)) from None


def _tokens(cost: Mapping[str, Any], field: str) -> int:
    value = cost.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CostFormatError(field, f"expected a whole number of tokens, got {value!r}")
    if value < 0:
        raise CostFormatError(field, f"must not be negative, got {value}")
    return value
