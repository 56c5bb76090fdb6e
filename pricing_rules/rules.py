"""The typed rule file: the contract pricing people write in YAML.

Each section is a pydantic model with `extra="forbid"`, so a misspelt key is an error
that names the key, never a silently ignored setting. Cross-field rules live in
`RuleFile._check_references` and report every fault with its own location.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pricing_rules.charges import Charge, FlatCharge, PercentageCharge
from pricing_rules.conditions import Where
from pricing_rules.durations import Duration
from pricing_rules.errors import RuleValueError, RuleValueErrors
from pricing_rules.measures import Count, Measure, Sum
from pricing_rules.money import Currency, Money
from pricing_rules.paths import Path
from pricing_rules.periods import Interval, Timezone

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
OutcomeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Billing(RuleModel):
    interval: Interval = "month"
    timezone: Timezone = "UTC"
    close_after: Duration = Field(
        default=timedelta(hours=72),
        description="Late events are accepted into a period until its end plus this.",
    )


class ReversedBy(RuleModel):
    event: EventType = Field(description="Event type that cancels the outcome.")
    match: Path = Field(
        description="Path read on both events; equal values tie the reversal to the outcome."
    )
    where: Where | None = None


class Settle(RuleModel):
    after: Duration = Field(
        default=timedelta(0),
        description="An outcome is pending until its timestamp plus this has passed.",
    )
    reversed_by: ReversedBy | None = None


class OutcomeSpec(RuleModel):
    event: EventType = Field(description="Event type that can produce this outcome.")
    where: Where | None = None
    unique_by: Path | None = Field(
        default=None, description="At most one outcome per value of this path per period."
    )
    settle: Settle = Settle()
    measure: Measure = Count()


class RuleFile(RuleModel):
    """One immutable version of a plan's pricing."""

    plan: Slug
    version: int = Field(ge=1)
    currency: Currency
    billing: Billing = Billing()
    outcomes: dict[OutcomeName, OutcomeSpec] = Field(default_factory=dict)
    charges: list[Charge] = Field(min_length=1)
    minimum: Money | None = Field(default=None, description="Period minimum spend.")
    maximum: Money | None = Field(default=None, description="Period cap.")

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        problems: list[RuleValueError] = []
        names = sorted(self.outcomes)
        for index, charge in enumerate(self.charges):
            if isinstance(charge, FlatCharge):
                continue
            outcome = self.outcomes.get(charge.outcome)
            if outcome is None:
                known = ", ".join(names) or "none are defined"
                problems.append(
                    RuleValueError(
                        f"charge refers to unknown outcome {charge.outcome!r}; "
                        f"expected one of the outcomes of this file ({known})",
                        ("charges", index, "outcome"),
                    )
                )
            elif isinstance(charge, PercentageCharge) and not isinstance(outcome.measure, Sum):
                problems.append(
                    RuleValueError(
                        f"a percentage charge needs a value per event; outcome "
                        f"{charge.outcome!r} must use measure {{sum: <path>}}",
                        ("charges", index, "outcome"),
                    )
                )
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            problems.append(
                RuleValueError(
                    f"minimum {self.minimum} is above maximum {self.maximum}", ("minimum",)
                )
            )
        if problems:
            raise RuleValueErrors(problems)
        return self

    def charge_names(self) -> list[str]:
        return [charge.display_name for charge in self.charges]


def zero() -> Decimal:
    return Decimal(0)
