"""Per-customer price books: a small document that overrides named charges of a plan.

```yaml
charges:
  Resolved conversations:        # a charge's name, or its outcome when it has no name
    free_units: 100
    tiers: [{up_to: null, unit_price: "0.69"}]
minimum: "100.00"                # null removes the plan's minimum
commitment: {price: "0.45", overage: {unit_price: "1.10"}}
```

Only prices change: a charge's price keys, tiers, `prices` by value and free units, the
plan's minimum and maximum, and its commitment's units, prices and true-up
(`pricing_rules.commitment_overrides` says why its term and outcome stay the plan's). What
an outcome is, how it settles and what a charge prices stay the plan's. The effective rules
are the plan's with the override's keys, validated exactly as a rule file is, with every
error located in the override document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pricing_rules.charges import Charge, ChargeBase
from pricing_rules.commitment_overrides import CommitmentOverride, merged_commitment
from pricing_rules.errors import Loc, RuleError, RuleFileError
from pricing_rules.loader import load_document, locate_errors, sorted_errors
from pricing_rules.money import Money
from pricing_rules.rules import MaximumSetting, RuleFile, RuleModel
from pricing_rules.yaml_source import Document, read_yaml


class ChargeOverride(RuleModel):
    """The keys of one charge an override may set; their values are checked as the charge's."""

    unit_price: Any = None
    price: Any = None
    tiers: Any = None
    prices: Any = Field(default=None, description="By value, for a charge with group_by.")
    free_units: Any = None
    rate: Any = None
    per_event_min: Any = None
    per_event_max: Any = None
    per_event_fee: Any = None


class Override(RuleModel):
    """A customer's price book over its plan: by charge name, and the period bounds."""

    charges: dict[str, ChargeOverride] = Field(default_factory=dict)
    minimum: Money | None = Field(default=None, description="null removes the plan's minimum.")
    maximum: MaximumSetting | None = None
    commitment: CommitmentOverride | None = Field(
        default=None, description="Units, price, overage and true_up of the plan's commitment."
    )


class _OneCharge(BaseModel):
    """One charge validated alone, as the rule file validates each of its charges."""

    model_config = ConfigDict(extra="forbid")
    charge: Charge


def charge_key(charge: ChargeBase) -> str | None:
    """What an override calls a charge: its name, or the outcome it prices."""
    return charge.name or charge.priced_outcome


def override_summary(text: str, filename: str = "<override>") -> str:
    """What a valid override changes, in one phrase: `charges Resolutions, Platform fee;
    minimum; commitment`."""
    override = load_document(text, Override, filename)
    parts = [f"charges {', '.join(override.charges)}"] if override.charges else []
    parts += [
        key for key in ("minimum", "maximum", "commitment") if key in override.model_fields_set
    ]
    return "; ".join(parts) or "nothing"


def apply_override(text: str, rules: RuleFile, filename: str = "<override>") -> RuleFile:
    """`rules` with the override in `text` applied; RuleFileError locates every mistake
    (a charge the plan does not have, a key no charge takes, a price the charge refuses, a
    commitment the plan does not have or a change of its term)."""
    override = load_document(text, Override, filename)
    document = read_yaml(text, filename)
    errors: list[RuleError] = []
    charges = list(rules.charges)
    by_key: dict[str, list[int]] = {}
    for index, charge in enumerate(charges):
        key = charge_key(charge)
        if key is not None:
            by_key.setdefault(key, []).append(index)
    for name, change in override.charges.items():
        found = by_key.get(name, [])
        if len(found) != 1:
            errors.append(_unknown(document, filename, name, found, sorted(by_key)))
            continue
        (index,) = found
        merged = _merged(charges[index], change, document, filename, name, errors)
        if merged is not None:
            charges[index] = merged
    update: dict[str, Any] = {"charges": charges}
    for bound in ("minimum", "maximum"):
        if bound in override.model_fields_set:
            update[bound] = getattr(override, bound)
    if "commitment" in override.model_fields_set:
        update["commitment"] = merged_commitment(
            rules.commitment, override.commitment, document, filename, errors
        )
    result = rules.model_copy(update=update)
    cap = result.maximum
    if result.minimum is not None and cap is not None and result.minimum > cap.amount:
        where: Loc = ("minimum",) if "minimum" in override.model_fields_set else ("maximum",)
        line, column = document.position(where, "value")
        message = f"minimum {result.minimum} is above maximum {cap.amount}"
        errors.append(RuleError(filename, line, column, message))
    if errors:
        raise RuleFileError(sorted_errors(errors))
    return result


def _unknown(
    document: Document, filename: str, name: str, found: list[int], known: list[str]
) -> RuleError:
    line, column = document.position(("charges", name), "key")
    if found:
        message = (
            f"the plan has {len(found)} charges called {name!r}; an override needs each "
            "charge it changes to have a name of its own"
        )
    else:
        message = (
            f"the plan has no charge {name!r}; expected a charge's name, or its outcome when "
            f"it has none: {', '.join(repr(k) for k in known) or 'none'}"
        )
    return RuleError(filename, line, column, message)


def _merged(
    charge: ChargeBase,
    change: ChargeOverride,
    document: Document,
    filename: str,
    name: str,
    errors: list[RuleError],
) -> ChargeBase | None:
    """The charge with the override's keys, validated as a rule file's charge is."""
    keys = {key: getattr(change, key) for key in change.model_fields_set}
    data = {"charge": {**charge.model_dump(by_alias=True), **keys}}
    try:
        return _OneCharge.model_validate(data).charge
    except ValidationError as invalid:

        def relocate(loc: Loc) -> Loc:
            inner = loc[1:]
            if inner[:1] and inner[0] not in keys:
                return ("charges", name)
            return ("charges", name, *inner)

        errors.extend(locate_errors(invalid, _OneCharge, data, document, filename, relocate))
        return None
