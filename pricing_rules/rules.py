"""The typed rule file: the contract pricing people write in YAML.

Each section is a pydantic model with `extra="forbid"`, so a misspelt key is an error
that names the key, never a silently ignored setting. Cross-field rules live in
`RuleFile._check_references` and report every fault with its own location.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails

from pricing_rules.charges import Charge, charge_class
from pricing_rules.commitments import Commitment, amount_problems, term_problems
from pricing_rules.conditions import Where
from pricing_rules.durations import Duration
from pricing_rules.errors import RuleValueError, RuleValueErrors
from pricing_rules.measures import Count, Measure, Sum
from pricing_rules.money import Currency, Money, parse_decimal
from pricing_rules.paths import Path
from pricing_rules.periods import Interval, Timezone

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
OutcomeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InvoiceAt(RuleModel):
    """Threshold invoicing: an interim invoice once the open period's settled amount
    reaches this."""

    amount: Money = Field(description='Settled amount that triggers an interim invoice, "5000.00".')


class Billing(RuleModel):
    interval: Interval = "month"
    timezone: Timezone = "UTC"
    close_after: Duration = Field(
        default=timedelta(hours=72),
        description="Late events are accepted into a period until its end plus this.",
    )
    invoice_at: InvoiceAt | None = None


class ReversedBy(RuleModel):
    event: EventType = Field(description="Event type that cancels the outcome.")
    match: Path = Field(
        description="Path read on both events; equal values tie the reversal to the outcome."
    )
    where: Where | None = None


class ConfirmedBy(RuleModel):
    """A verified outcome: it waits for a confirming event (a verifier's verdict, a survey,
    a sign-off) before it counts."""

    event: EventType = Field(description="Event type that confirms the outcome.")
    match: Path = Field(
        description="Path read on both events; equal values tie the confirmation to the outcome."
    )
    where: Where | None = None
    within: Duration = Field(
        description="The confirmation must happen at most this long after the outcome."
    )
    otherwise: Literal["drop", "count"] = Field(
        default="drop",
        description="Without a confirmation in time: drop (never billed) or count (billed from "
        "the end of the window).",
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.within <= timedelta(0):
            raise RuleValueError(
                "within must be longer than 0, or no confirmation could ever come in time; "
                "expected a duration such as 72h",
                ("within",),
            )
        return self


class RejectedBy(RuleModel):
    """An event that makes the outcome `rejected`: never billed, credited if invoiced."""

    event: EventType = Field(description="Event type that rejects the outcome.")
    match: Path = Field(
        description="Path read on both events; equal values tie the rejection to the outcome."
    )
    where: Where | None = None


class Settle(RuleModel):
    after: Duration = Field(
        default=timedelta(0),
        description="An outcome is pending until its timestamp plus this has passed.",
    )
    reversed_by: ReversedBy | None = None
    confirmed_by: ConfirmedBy | None = None
    rejected_by: RejectedBy | None = None


OnReach = Literal["notify", "stop_billing", "block"]
_ON_REACH_TEXT = (
    "notify: only tell the vendor; stop_billing: bill no more than the limit; "
    "block: outcomes past the limit are over_limit, stored and never billed."
)
_ON_REACH = {"enum": ["notify", "stop_billing", "block"], "description": _ON_REACH_TEXT}
WarnAt = Annotated[
    int,
    Field(
        ge=1,
        le=100,
        description="Percent of the limit at which the allowance check answers `warning` "
        "and a `limit.warning` webhook is sent once per period.",
    ),
]


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"a limit must be above zero, got {value}")
    return value


PositiveMoney = Annotated[Money, AfterValidator(_positive)]


class Maximum(RuleModel):
    """The period's spend limit; a plain amount in the file means `on_reach: stop_billing`
    (a cap line)."""

    amount: PositiveMoney
    on_reach: OnReach = Field(default="stop_billing", description=_ON_REACH_TEXT)
    warn_at: WarnAt = 80

    @model_validator(mode="before")
    @classmethod
    def _from_amount(cls, data: Any) -> Any:
        return data if isinstance(data, Mapping | BaseModel) else {"amount": data}


_MONEY_SCHEMA = TypeAdapter(Money).json_schema()
MaximumSetting = Annotated[
    Maximum,
    WithJsonSchema(
        {
            "anyOf": [
                _MONEY_SCHEMA,
                {
                    "type": "object",
                    "properties": {
                        "amount": _MONEY_SCHEMA,
                        "on_reach": {**_ON_REACH, "default": "stop_billing"},
                        "warn_at": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    "required": ["amount"],
                    "additionalProperties": False,
                },
            ],
            "description": 'Period spend limit: an amount (a cap), or {amount: "20000.00", '
            "on_reach: notify | stop_billing | block, warn_at: 80}.",
        }
    ),
]


class UnitLimit(RuleModel):
    """How many units of one outcome a customer may have counted per billing period."""

    units: Annotated[Decimal, BeforeValidator(parse_decimal), AfterValidator(_positive)] = Field(
        description="Units (the outcome's measure) allowed per period; above zero."
    )
    per: Literal["period"] = Field(default="period", description="The billing period.")
    on_reach: OnReach = Field(
        default="block",
        description="notify: only tell the vendor; block or stop_billing: the outcomes past "
        "the limit are over_limit, stored and never billed.",
    )
    warn_at: WarnAt = 80


class PortalSpec(RuleModel):
    show: tuple[Path, ...] = Field(
        default=(),
        description="Event paths the customer sees in the billing portal; nothing else of the "
        "event is shown.",
    )


class OutcomeSpec(RuleModel):
    event: EventType = Field(description="Event type that can produce this outcome.")
    where: Where | None = None
    unique_by: Path | None = Field(
        default=None, description="At most one outcome per value of this path per period."
    )
    settle: Settle = Settle()
    measure: Measure = Count()
    portal: PortalSpec = PortalSpec()
    evidence: tuple[Path, ...] = Field(
        default=(),
        description="Paths of the confirming event shown to the customer in the portal next "
        "to the outcome (the verifier's verdict, the survey score); needs settle.confirmed_by.",
    )
    limit: UnitLimit | None = None


class Exclusive(RuleModel):
    """One billable outcome per subject: among `order`, the first counted one wins."""

    key: Path = Field(
        description="Path naming the subject (a conversation): at most one of the outcomes in "
        "`order` counts per value per period."
    )
    order: tuple[OutcomeName, ...] = Field(
        min_length=2,
        description="Outcome names, highest precedence first; the others of a subject are "
        "superseded.",
    )


ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TokenPrices(RuleModel):
    input: Money = Field(description="Price of `per` input tokens, in the plan's currency.")
    output: Money = Field(description="Price of `per` output tokens, in the plan's currency.")
    per: int = Field(default=1_000_000, ge=1, description="Tokens the prices are for.")


class Costs(RuleModel):
    """What producing outcomes costs the vendor, for margin reports; never billed."""

    attribute_to: Path | None = Field(
        default=None,
        description="Path read on cost events and outcome events; equal values attach a "
        "cost to the outcome.",
    )
    models: dict[ModelName, TokenPrices] = Field(default_factory=dict)


class RuleFile(RuleModel):
    """One immutable version of a plan's pricing."""

    plan: Slug
    version: int = Field(ge=1, le=2**31 - 1)  # what a service stores in an INTEGER column
    currency: Currency
    billing: Billing = Billing()
    outcomes: dict[OutcomeName, OutcomeSpec] = Field(default_factory=dict)
    charges: list[Charge] = Field(min_length=1)
    minimum: Money | None = Field(default=None, description="Period minimum spend.")
    maximum: MaximumSetting | None = None
    costs: Costs | None = None
    exclusive: Exclusive | None = None
    commitment: Commitment | None = Field(
        default=None,
        description="Units of one outcome committed over a term of whole billing periods.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _check_references(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Check references across sections on the raw data, so their faults are reported
        together with the faults of single fields instead of only once those are fixed."""
        problems = reference_problems(data) if isinstance(data, Mapping) else []
        try:
            rule_file = handler(data)
        except ValidationError as invalid:
            if not problems:
                raise
            details: list[InitErrorDetails] = [
                {"type": e["type"], "loc": e["loc"], "input": e["input"], "ctx": e.get("ctx", {})}
                for e in invalid.errors()
            ]
            details.append(
                {
                    "type": "value_error",
                    "loc": (),
                    "input": data,
                    "ctx": {"error": RuleValueErrors(problems)},
                }
            )
            raise ValidationError.from_exception_data(invalid.title, details) from None
        if problems:
            raise RuleValueErrors(problems)
        return rule_file

    @property
    def group_paths(self) -> dict[str, str]:
        """The `group_by` path of each outcome a charge prices per value (one per outcome)."""
        return {
            outcome: path
            for charge in self.charges
            if (outcome := charge.priced_outcome) is not None
            and (path := charge.group_path) is not None
        }


def reference_problems(data: Mapping[str, Any]) -> list[RuleValueError]:
    """Charges naming outcomes that do not exist or cannot be priced so, and a minimum above
    the maximum; reads the raw mapping and skips whatever is malformed (reported elsewhere)."""
    problems: list[RuleValueError] = []
    outcomes = data.get("outcomes")
    outcomes = outcomes if isinstance(outcomes, Mapping) else {}
    charges = data.get("charges")
    grouped: dict[str, str] = {}
    for index, item in enumerate(charges if isinstance(charges, list) else []):
        charge = _raw(item)
        if not isinstance(charge, Mapping):
            continue
        problems.extend(_group_problems(charge, index, grouped))
        model = charge_class(charge.get("model"))
        if model is not None and not model.prices_outcome:
            continue
        name = charge.get("outcome")
        if not isinstance(name, str):
            continue
        outcome = _raw(outcomes.get(name))
        if outcome is None:
            known = ", ".join(sorted(str(key) for key in outcomes)) or "none are defined"
            problems.append(
                RuleValueError(
                    f"charge refers to unknown outcome {name!r}; "
                    f"expected one of the outcomes of this file ({known})",
                    ("charges", index, "outcome"),
                )
            )
        elif model is not None and model.needs_values and not _sums(outcome):
            problems.append(
                RuleValueError(
                    f"a {charge['model']} charge needs a value per event; outcome "
                    f"{name!r} must use measure {{sum: <path>}}",
                    ("charges", index, "outcome"),
                )
            )
    problems += _exclusive_problems(data.get("exclusive"), outcomes)
    problems += _commitment_problems(data, outcomes)
    for name, outcome in outcomes.items():
        problems += _verification_problems(str(name), _raw(outcome))
    minimum, maximum = data.get("minimum"), _raw(data.get("maximum"))
    if isinstance(maximum, Mapping):
        maximum = maximum.get("amount")
    if (
        _is_amount(minimum)
        and _is_amount(maximum)
        and Decimal(str(minimum)) > Decimal(str(maximum))
    ):
        problems.append(
            RuleValueError(f"minimum {minimum} is above maximum {maximum}", ("minimum",))
        )
    return problems


def _commitment_problems(
    data: Mapping[str, Any], outcomes: Mapping[str, Any]
) -> list[RuleValueError]:
    """The committed outcome exists, is counted or summed, and no charge prices it too;
    the term is made of whole billing periods."""
    commitment = _raw(data.get("commitment"))
    if not isinstance(commitment, Mapping):
        return []
    billing = _raw(data.get("billing"))
    interval = billing.get("interval") if isinstance(billing, Mapping) else None
    problems = term_problems(dict(commitment), interval or "month")
    problems += amount_problems(dict(commitment), data.get("currency"))
    units = commitment.get("units")
    known = ", ".join(sorted(str(key) for key in outcomes)) or "none are defined"
    charges = data.get("charges")
    for name in units if isinstance(units, Mapping) else {}:
        at = ("commitment", "units", name)
        outcome = _raw(outcomes.get(name))
        if outcome is None:
            problems.append(
                RuleValueError(
                    f"commitment refers to unknown outcome {name!r}; expected one of the "
                    f"outcomes of this file ({known})",
                    at,
                )
            )
            continue
        measure = outcome.get("measure") if isinstance(outcome, Mapping) else None
        if measure is not None and not _adds_up(measure):
            problems.append(
                RuleValueError(
                    f"a commitment adds up units across periods; outcome {name!r} must use "
                    "measure count or {sum: <path>}",
                    at,
                )
            )
        for index, item in enumerate(charges if isinstance(charges, list) else []):
            charge = _raw(item)
            if isinstance(charge, Mapping) and charge.get("outcome") == name:
                problems.append(
                    RuleValueError(
                        f"outcome {name!r} is priced by the commitment (its price and "
                        "overage); expected no charge for it",
                        ("charges", index, "outcome"),
                    )
                )
    return problems


def _exclusive_problems(exclusive: Any, outcomes: Mapping[str, Any]) -> list[RuleValueError]:
    """`order` names outcomes of this file, once each, deduplicated on the exclusive key."""
    exclusive = _raw(exclusive)
    if not isinstance(exclusive, Mapping) or not isinstance(exclusive.get("order"), list | tuple):
        return []
    problems: list[RuleValueError] = []
    key = exclusive.get("key")
    known = ", ".join(sorted(str(name) for name in outcomes)) or "none are defined"
    seen: set[str] = set()
    for index, name in enumerate(exclusive["order"]):
        at = ("exclusive", "order", index)
        if not isinstance(name, str):
            continue
        if name in seen:
            problems.append(RuleValueError(f"outcome {name!r} is listed twice in order", at))
            continue
        seen.add(name)
        outcome = _raw(outcomes.get(name))
        if outcome is None:
            problems.append(
                RuleValueError(
                    f"order names unknown outcome {name!r}; expected one of the outcomes of "
                    f"this file ({known})",
                    at,
                )
            )
        elif isinstance(outcome, Mapping) and outcome.get("unique_by") not in (None, key):
            problems.append(
                RuleValueError(
                    f"outcome {name!r} is exclusive on {key}, so its unique_by must be {key} "
                    f"or left out (it is {outcome.get('unique_by')})",
                    ("outcomes", name, "unique_by"),
                )
            )
    return problems


def _verification_problems(name: str, outcome: Any) -> list[RuleValueError]:
    """A confirmation must be another event than the outcome's own and than the ones that
    reverse or reject it; evidence is read on the confirming event, so it needs one."""
    if not isinstance(outcome, Mapping):
        return []
    settle = _raw(outcome.get("settle"))
    settle = settle if isinstance(settle, Mapping) else {}
    confirmed = _raw(settle.get("confirmed_by"))
    problems: list[RuleValueError] = []
    if isinstance(confirmed, Mapping):
        confirming = confirmed.get("event")
        others = {"the outcome's own event": outcome.get("event")}
        for section in ("reversed_by", "rejected_by"):
            other = _raw(settle.get(section))
            if isinstance(other, Mapping):
                others[f"settle.{section}.event"] = other.get("event")
        for label, other_event in others.items():
            if confirming is not None and confirming == other_event:
                problems.append(
                    RuleValueError(
                        f"confirmed_by.event {confirming!r} is also {label}: no event can both "
                        "make or cancel an outcome and confirm it; expected the event your "
                        "verifier, survey or sign-off sends",
                        ("outcomes", name, "settle", "confirmed_by", "event"),
                    )
                )
    paths = {
        section: claim.get("match")
        for section in ("reversed_by", "confirmed_by", "rejected_by")
        if isinstance(claim := _raw(settle.get(section)), Mapping)
        and claim.get("match") is not None  # a missing match is reported as missing
    }
    first_section, first_path = next(iter(paths.items()), (None, None))
    for section, path in paths.items():
        if path != first_path:
            problems.append(
                RuleValueError(
                    f"settle.{section}.match is {path} but settle.{first_section}.match is "
                    f"{first_path}; expected one match path for every event that reverses, "
                    "rejects or confirms an outcome",
                    ("outcomes", name, "settle", section, "match"),
                )
            )
    if outcome.get("evidence") and not isinstance(confirmed, Mapping):
        problems.append(
            RuleValueError(
                "evidence is read on the confirming event; expected settle.confirmed_by on "
                f"outcome {name!r}",
                ("outcomes", name, "evidence"),
            )
        )
    return problems


def _group_problems(
    charge: Mapping[str, Any], index: int, grouped: dict[str, str]
) -> list[RuleValueError]:
    """Charges of one outcome that group it by different paths (its rows keep one value)."""
    path, outcome = charge.get("group_by"), charge.get("outcome")
    if not isinstance(path, str) or not isinstance(outcome, str):
        return []
    first = grouped.setdefault(outcome, path)
    if first == path:
        return []
    return [
        RuleValueError(
            f"outcome {outcome!r} is already grouped by {first} in an earlier charge; "
            "the charges of one outcome group it by the same path",
            ("charges", index, "group_by"),
        )
    ]


def _raw(value: Any) -> Any:
    """A section as mapping data, also when it was given as a model already."""
    return value.model_dump() if isinstance(value, BaseModel) else value


def _sums(outcome: Any) -> bool:
    measure = outcome.get("measure") if isinstance(outcome, Mapping) else None
    return isinstance(measure, Sum) or (isinstance(measure, Mapping) and "sum" in measure)


def _adds_up(measure: Any) -> bool:
    """A count or a sum, as raw data or as a model: units that add up across periods."""
    if isinstance(measure, Count | Sum) or measure == "count":
        return True
    return isinstance(measure, Mapping) and (
        "sum" in measure or measure.get("kind") in ("count", "sum")
    )


def _is_amount(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return False
    try:
        return Decimal(str(value)).is_finite()
    except ArithmeticError:
        return False
