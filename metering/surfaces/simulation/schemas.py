"""The one shape of a simulation's answer: the API body and `metering rules simulate --json`.

Amounts are decimal strings in major units, rounded to the currency's minor unit like
invoice totals; the percent change is relative to the current amount, to two places, and
null when the current amount is zero (no percentage of nothing).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.surfaces.simulation.credits import PeriodDrawdown
from metering.surfaces.simulation.service import SimulationResult
from metering.surfaces.simulation.windows import Side
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units

HUNDRED = Decimal(100)


class Amounts(BaseModel):
    current: str = Field(description="Under the versions in force, as the invoices bill it.")
    proposed: str = Field(description="Under the proposed rule file.")
    difference: str = Field(description="proposed - current.")
    percent_change: str | None = Field(
        description="difference / current x 100, two places; null when current is 0."
    )


class OverLimit(BaseModel):
    current: int = Field(
        description="Outcomes held over a block limit under the versions in force."
    )
    proposed: int = Field(description="Outcomes held over a block limit under the proposal.")


class GrantDrawOut(BaseModel):
    grant_id: str
    name: str | None
    amount: str = Field(description="What the grant would have paid (positive).")


class PeriodDrawdownOut(BaseModel):
    side: str = Field(description="current or proposed.")
    period_from: datetime = Field(alias="from")
    period_to: datetime = Field(alias="to")
    invoice: str = Field(description="The period's invoice before credits.")
    drawn: str = Field(description="What credits would have paid for it, in the close's order.")
    grants: list[GrantDrawOut]

    model_config = ConfigDict(populate_by_name=True)


class CustomerAmounts(Amounts):
    customer: str = Field(description="The vendor's id of the customer (external id).")
    customer_id: str
    periods: int = Field(description="Periods priced, both sides together.")
    events: int = Field(description="Stored events read for this customer.")
    overridden: bool = Field(
        description="Billed by its own override of the plan: `current` is its own prices, "
        "`proposed` the proposal's (an override does not follow a proposal)."
    )
    credits: Amounts = Field(
        description="What the customer's credit grants would have paid (the close's drawdown, "
        "replayed over the range from the grants as granted)."
    )
    over_limit: OverLimit
    drawdowns: list[PeriodDrawdownOut] = Field(
        description="Per side and period, what credits would have drawn and from which grant."
    )


class TreatmentChangeCount(BaseModel):
    outcome: str
    current: str = Field(description="counted, pending, problem, deduplicated, reversed, ...")
    proposed: str
    events: int


class TreatmentChangeExample(BaseModel):
    event_id: str
    customer: str
    outcome: str
    current: str
    proposed: str


class ProposedRules(BaseModel):
    plan: str
    version: int
    currency: str


_NOTHING_HELD_OR_DRAWN: dict[str, Any] = {
    "credits": {
        "current": "0.00",
        "proposed": "0.00",
        "difference": "0.00",
        "percent_change": None,
    },
    "over_limit": {"current": 0, "proposed": 0},
}

SIMULATION_EXAMPLE: dict[str, Any] = {
    "plan_id": "pln_01m8y51h4x1mnd2xf51bcj0341",
    "plan": "support-agent",
    "current_versions": [1],
    "proposed": {"plan": "support-agent", "version": 2, "currency": "usd"},
    "currency": "usd",
    "from": "2026-10-01T00:00:00Z",
    "to": "2026-11-01T00:00:00Z",
    "as_of": "2026-11-20T12:00:00Z",
    "events": 2,
    "customers": [
        {
            "current": "18.99",
            "proposed": "19.10",
            "difference": "0.11",
            "percent_change": "0.58",
            "customer": "acme",
            "customer_id": "cus_01m8y51h6wnk2mcpywvn5sm0n5",
            "periods": 1,
            "events": 2,
            "overridden": False,
            **_NOTHING_HELD_OR_DRAWN,
            "drawdowns": [],
        }
    ],
    "total": {
        "current": "18.99",
        "proposed": "19.10",
        "difference": "0.11",
        "percent_change": "0.58",
    },
    **_NOTHING_HELD_OR_DRAWN,
    "treatment_changes": [],
    "examples": [],
}


class SimulationOut(BaseModel):
    plan_id: str
    plan: str
    current_versions: list[int] = Field(description="The versions in force over the range.")
    proposed: ProposedRules
    currency: str
    range_from: datetime = Field(alias="from")
    range_to: datetime = Field(alias="to")
    as_of: datetime = Field(description="Now: open periods are priced as of this time.")
    events: int
    customers: list[CustomerAmounts]
    total: Amounts
    credits: Amounts = Field(description="What credits would have paid, all customers.")
    over_limit: OverLimit = Field(description="Outcomes held over a block limit, all customers.")
    treatment_changes: list[TreatmentChangeCount] = Field(
        description="Per outcome, how many events change treatment, per kind of change."
    )
    examples: list[TreatmentChangeExample] = Field(description="The first events that change.")

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [SIMULATION_EXAMPLE]}
    )


def percent_change(current: Decimal, proposed: Decimal) -> Decimal | None:
    if current == 0:
        return None
    return ((proposed - current) / current * HUNDRED).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def amounts(current: Decimal, proposed: Decimal, exponent: int) -> dict[str, str | None]:
    change = percent_change(current, proposed)
    return {
        "current": money_text(current, exponent),
        "proposed": money_text(proposed, exponent),
        "difference": money_text(proposed - current, exponent),
        "percent_change": None if change is None else str(change),
    }


def _drawdown(drawdown: PeriodDrawdown, exponent: int) -> dict[str, Any]:
    return {
        "side": drawdown.side.value,
        "from": drawdown.period_start,
        "to": drawdown.period_end,
        "invoice": money_text(drawdown.invoice, exponent),
        "drawn": money_text(drawdown.drawn, exponent),
        "grants": [
            {"grant_id": g.grant_id, "name": g.name, "amount": money_text(g.amount, exponent)}
            for g in drawdown.grants
        ],
    }


def simulation_out(result: SimulationResult) -> SimulationOut:
    exponent = minor_units(result.currency)
    current = sum((c.current for c in result.customers), Decimal(0))
    proposed = sum((c.proposed for c in result.customers), Decimal(0))
    changes = sorted(result.changes.items(), key=lambda item: (item[0][0], -item[1], item[0]))
    credits = {side: sum((c.credits(side) for c in result.customers), Decimal(0)) for side in Side}
    held = {side: sum(c.over_limit[side] for c in result.customers) for side in Side}
    return SimulationOut.model_validate(
        {
            "plan_id": result.plan_id,
            "plan": result.plan_slug,
            "current_versions": result.current_versions,
            "proposed": {
                "plan": result.proposed.plan,
                "version": result.proposed.version,
                "currency": result.proposed.currency,
            },
            "currency": result.currency,
            "from": result.start,
            "to": result.end,
            "as_of": result.as_of,
            "events": result.events,
            "customers": [
                {
                    "customer": c.external_id,
                    "customer_id": c.customer_id,
                    "periods": c.periods,
                    "events": c.events,
                    "overridden": c.overridden,
                    **amounts(c.current, c.proposed, exponent),
                    "credits": amounts(c.credits(Side.CURRENT), c.credits(Side.PROPOSED), exponent),
                    "over_limit": {side.value: c.over_limit[side] for side in Side},
                    "drawdowns": [_drawdown(d, exponent) for d in c.drawdowns],
                }
                for c in result.customers
            ],
            "total": amounts(current, proposed, exponent),
            "credits": amounts(credits[Side.CURRENT], credits[Side.PROPOSED], exponent),
            "over_limit": {side.value: held[side] for side in Side},
            "treatment_changes": [
                {"outcome": outcome, "current": before, "proposed": after, "events": count}
                for (outcome, before, after), count in changes
            ],
            "examples": [
                {
                    "event_id": e.event_id,
                    "customer": e.customer,
                    "outcome": e.outcome,
                    "current": e.current,
                    "proposed": e.proposed,
                }
                for e in result.examples
            ],
        }
    )


def simulation_json(result: SimulationResult) -> dict[str, object]:
    """The JSON document (by alias: `from`, `to`), as the API sends it."""
    document: dict[str, object] = simulation_out(result).model_dump(mode="json", by_alias=True)
    return document
