"""A customer's own commitment: an override's `commitment` section over the plan's.

```yaml
commitment:
  units: {resolved_conversation: 20000}   # the plan's committed outcome, another number
  price: "0.45"
  overage: {unit_price: "1.10"}           # replaces the plan's overage (price or tiers)
  true_up: none
```

A customer negotiates how much it commits to and at which prices, so `units` (or `amount`
for an amount commitment), `price`, `overage` and `true_up` may change; the form (units or
an amount) stays the plan's. What is committed (the outcome) and the `term` stay the
plan's: the term starts with the customer's first subscription to the plan and keeps going
across its versions, so a term of another length would cut the periods already billed (and
their true-ups) into other terms; the outcome is priced by the commitment instead of a
charge, which only the plan can arrange. Neither can an override add a commitment the plan
does not have, or remove the plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from pricing_rules.commitments import Commitment
from pricing_rules.errors import Loc, RuleError, RuleValueError, RuleValueErrors
from pricing_rules.loader import locate_errors
from pricing_rules.rules import RuleModel
from pricing_rules.yaml_source import Document, Target

CHANGEABLE = ("units", "amount", "price", "overage", "true_up")
TERM_REFUSED = (
    "the term cannot be overridden per customer: it starts with the customer's first "
    "subscription to the plan and runs across its versions, so another length would move the "
    f"periods already billed into other terms; expected only {', '.join(CHANGEABLE)}"
)


class CommitmentOverride(RuleModel):
    """The keys of the plan's commitment an override may set, checked as the plan's are."""

    units: Any = Field(default=None, description="{<the plan's outcome>: <units>}.")
    amount: Any = Field(default=None, description="The amount, for an amount commitment.")
    price: Any = None
    overage: Any = Field(default=None, description="Replaces the plan's overage whole.")
    true_up: Any = None

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_term(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """A `term` is refused with its reason, together with the other keys' faults."""
        if not (isinstance(data, Mapping) and "term" in data):
            return handler(data)
        term = RuleValueErrors([RuleValueError(TERM_REFUSED, ("term",))])
        rest = {key: value for key, value in data.items() if key != "term"}
        try:
            handler(rest)
        except ValidationError as invalid:
            details: list[InitErrorDetails] = [
                {"type": e["type"], "loc": e["loc"], "input": e["input"], "ctx": e.get("ctx", {})}
                for e in invalid.errors()
            ]
            details.append(
                {"type": "value_error", "loc": (), "input": data, "ctx": {"error": term}}
            )
            raise ValidationError.from_exception_data(invalid.title, details) from None
        raise term


class _OneCommitment(BaseModel):
    """The merged commitment validated alone, as the rule file validates its own."""

    model_config = ConfigDict(extra="forbid")
    commitment: Commitment


def merged_commitment(
    plan: Commitment | None,
    change: CommitmentOverride | None,
    document: Document,
    filename: str,
    errors: list[RuleError],
) -> Commitment | None:
    """The plan's commitment with the override's keys; mistakes are added to `errors`."""

    def refuse(loc: Loc, target: Target, message: str) -> None:
        line, column = document.position(loc, target)
        errors.append(RuleError(filename, line, column, message))

    changeable = ", ".join(CHANGEABLE)
    if plan is None:
        refuse(
            ("commitment",),
            "key",
            "the plan has no commitment; an override changes the plan's commitment "
            f"({changeable}), it cannot add one: give the plan a commitment in a new version",
        )
        return None
    if change is None:
        refuse(
            ("commitment",),
            "value",
            f"an override cannot remove the plan's commitment; expected the keys to change "
            f"({changeable})",
        )
        return None
    keys = {key: getattr(change, key) for key in change.model_fields_set}
    if not _same_form(plan, keys, refuse):
        return None
    if not _same_outcome(plan, keys.get("units"), refuse):
        keys.pop("units")
    data = {"commitment": {**plan.model_dump(by_alias=True), **keys}}
    try:
        merged = _OneCommitment.model_validate(data).commitment
    except ValidationError as invalid:

        def relocate(loc: Loc) -> Loc:
            inner = loc[1:]
            if inner[:1] and inner[0] not in keys:
                return ("commitment",)
            return ("commitment", *inner)

        errors.extend(locate_errors(invalid, _OneCommitment, data, document, filename, relocate))
        return None
    return merged


def _same_form(
    plan: Commitment, keys: Mapping[str, Any], refuse: Callable[[Loc, Target, str], None]
) -> bool:
    """An override keeps the plan's form: units stay units, an amount stays an amount."""
    other = "units" if plan.by_amount else "amount"
    if other not in keys:
        return True
    form = "an amount of spend" if plan.by_amount else "units of one outcome"
    refuse(
        ("commitment", other),
        "key",
        f"the plan commits {form}; an override changes how much, not the form: expected "
        f"{'amount' if plan.by_amount else 'units'}",
    )
    return False


def _same_outcome(plan: Commitment, units: Any, refuse: Callable[[Loc, Target, str], None]) -> bool:
    """`units` (when a mapping) names only the plan's committed outcome."""
    if not isinstance(units, Mapping):
        return True
    others = [name for name in units if name != plan.outcome]
    for name in others:
        refuse(
            ("commitment", "units", name),
            "key",
            f"the plan commits units of {plan.outcome!r}; an override changes how many, not "
            f"which outcome: expected {{{plan.outcome}: <units>}}",
        )
    return not others
