"""API shapes of the margin report; amounts are exact decimal strings in the plan currency
(unrounded: a model call may cost 0.0027), percents are rounded to two places."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.surfaces.reports.margin import (
    CurrencyTotals,
    CustomerMargin,
    MarginReport,
    OutcomeMargin,
    value_order,
)
from pricing_rules.money import minor_units

PERCENT = Decimal("0.01")


def _amount(value: Decimal, currency: str) -> str:
    """Exact, never with fewer decimals than the currency has: 20.00, 0.99, 0.0027."""
    places = minor_units(currency)
    exact = value.normalize()
    if -exact.as_tuple().exponent < places:  # type: ignore[operator]
        exact = value.quantize(Decimal(1).scaleb(-places))
    return format(exact, "f")


def _percent(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(PERCENT))


class OutcomeMarginOut(BaseModel):
    outcome: str
    settled: int = Field(description="Counted outcomes settled (billable) as of the report.")
    pending: int = Field(description="Counted outcomes still inside their settle window.")
    revenue: str
    cost: str = Field(description="Cost attributed to these outcomes.")
    margin: str
    margin_percent: str | None = Field(description="Margin / revenue x 100; null without revenue.")
    values: list[OutcomeValueMarginOut] = Field(
        default_factory=list,
        description="The outcome split by the value of the group_by path its charges price it "
        "by (revenue: what the lines of each value billed); empty when none does.",
    )


class OutcomeValueMarginOut(BaseModel):
    value: str | None = Field(description="The group_by value; null: events without one.")
    settled: int
    pending: int
    revenue: str
    cost: str
    margin: str
    margin_percent: str | None


class UnpricedOut(BaseModel):
    reason: str = Field(description="Why the cost could not be priced (unknown model, currency).")
    events: int


class CustomerMarginOut(BaseModel):
    customer_id: str
    customer: str = Field(description="The customer's external id.")
    plan: str
    plan_version: int
    currency: str
    period_start: datetime
    period_end: datetime
    revenue_source: str = Field(
        description="`invoice`: billed lines of the period (with later corrections); "
        "`live`: rated as of the report."
    )
    overridden: bool = Field(
        description="Billed by the customer's own override of this plan version."
    )
    invoice_ids: list[str]
    outcomes: list[OutcomeMarginOut]
    outcome_revenue: str
    other_revenue: str = Field(description="Revenue not per outcome: flat fees, minimum, cap.")
    promotional_credits: str = Field(
        "0",
        description="Promotional credits that paid the period (negative): a discount, "
        "included in `revenue`.",
    )
    prepaid_credits: str = Field(
        "0",
        description="What paid credits covered: revenue collected in advance, when they were "
        "bought; `revenue` keeps it.",
    )
    revenue: str
    attributed_cost: str
    unbilled_cost: str = Field(description="Cost on keys that became no counted outcome.")
    cost: str
    margin: str
    margin_percent: str | None
    unpriced: list[UnpricedOut]


class CurrencyTotalsOut(BaseModel):
    currency: str
    outcomes: list[OutcomeMarginOut] = Field(description="Per outcome type, all customers.")
    settled: int
    pending: int
    revenue: str
    promotional_credits: str = Field("0", description="A discount, included in `revenue`.")
    prepaid_credits: str = Field("0", description="Collected in advance; `revenue` keeps it.")
    attributed_cost: str
    unbilled_cost: str
    cost: str
    margin: str
    margin_percent: str | None
    unpriced_events: int


_OUTCOMES_EXAMPLE: list[dict[str, Any]] = [
    {
        "outcome": "pipeline_value",
        "settled": 1,
        "pending": 0,
        "revenue": "18.00",
        "cost": "0.12",
        "margin": "17.88",
        "margin_percent": "99.33",
    },
    {
        "outcome": "resolved_conversation",
        "settled": 1,
        "pending": 0,
        "revenue": "0.99",
        "cost": "0.00",
        "margin": "0.99",
        "margin_percent": "100.00",
    },
]
"""One customer's outcomes in the example, which are also the currency's totals."""

MARGIN_REPORT_EXAMPLE: dict[str, Any] = {
    "period": "2026-10",
    "as_of": "2026-11-20T12:00:00Z",
    "customers": [
        {
            "customer_id": "cus_01m8y51h6wnk2mcpywvn5sm0n5",
            "customer": "acme",
            "plan": "support-agent",
            "plan_version": 1,
            "currency": "usd",
            "period_start": "2026-10-01T00:00:00Z",
            "period_end": "2026-11-01T00:00:00Z",
            "revenue_source": "invoice",
            "overridden": False,
            "invoice_ids": ["inv_01jd3k2m8n4p6q8r0s2t4v6w8y"],
            "outcomes": _OUTCOMES_EXAMPLE,
            "outcome_revenue": "18.99",
            "other_revenue": "0.00",
            "promotional_credits": "0.00",
            "prepaid_credits": "0.00",
            "revenue": "18.99",
            "attributed_cost": "0.12",
            "unbilled_cost": "0.00",
            "cost": "0.12",
            "margin": "18.87",
            "margin_percent": "99.37",
            "unpriced": [],
        }
    ],
    "totals": [
        {
            "currency": "usd",
            "outcomes": _OUTCOMES_EXAMPLE,
            "settled": 2,
            "pending": 0,
            "revenue": "18.99",
            "promotional_credits": "0.00",
            "prepaid_credits": "0.00",
            "attributed_cost": "0.12",
            "unbilled_cost": "0.00",
            "cost": "0.12",
            "margin": "18.87",
            "margin_percent": "99.37",
            "unpriced_events": 0,
        }
    ],
}


class MarginReportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MARGIN_REPORT_EXAMPLE]})

    period: str
    as_of: datetime
    customers: list[CustomerMarginOut]
    totals: list[CurrencyTotalsOut] = Field(description="One entry per currency billed.")


def _figures(row: OutcomeMargin, currency: str) -> dict[str, Any]:
    return {
        "settled": row.settled,
        "pending": row.pending,
        "revenue": _amount(row.revenue, currency),
        "cost": _amount(row.cost, currency),
        "margin": _amount(row.margin, currency),
        "margin_percent": _percent(row.margin_percent),
    }


def outcome_out(row: OutcomeMargin, currency: str) -> OutcomeMarginOut:
    return OutcomeMarginOut(
        outcome=row.outcome,
        **_figures(row, currency),
        values=[
            OutcomeValueMarginOut(value=value, **_figures(row.values[value], currency))
            for value in sorted(row.values, key=value_order)
        ],
    )


def customer_out(row: CustomerMargin) -> CustomerMarginOut:
    return CustomerMarginOut(
        customer_id=row.customer_id,
        customer=row.customer,
        plan=row.plan,
        plan_version=row.plan_version,
        currency=row.currency,
        period_start=row.period_start,
        period_end=row.period_end,
        revenue_source=row.revenue_source,
        overridden=row.overridden,
        invoice_ids=row.invoice_ids,
        outcomes=[outcome_out(row.outcomes[name], row.currency) for name in sorted(row.outcomes)],
        outcome_revenue=_amount(row.outcome_revenue, row.currency),
        other_revenue=_amount(row.other_revenue, row.currency),
        promotional_credits=_amount(row.promotional_credits, row.currency),
        prepaid_credits=_amount(row.prepaid_credits, row.currency),
        revenue=_amount(row.revenue, row.currency),
        attributed_cost=_amount(row.attributed_cost, row.currency),
        unbilled_cost=_amount(row.unbilled_cost, row.currency),
        cost=_amount(row.cost, row.currency),
        margin=_amount(row.margin, row.currency),
        margin_percent=_percent(row.margin_percent),
        unpriced=[
            UnpricedOut(reason=reason, events=count)
            for reason, count in sorted(row.unpriced.items())
        ],
    )


def totals_out(row: CurrencyTotals) -> CurrencyTotalsOut:
    return CurrencyTotalsOut(
        currency=row.currency,
        outcomes=[outcome_out(row.outcomes[name], row.currency) for name in sorted(row.outcomes)],
        settled=row.settled,
        pending=row.pending,
        revenue=_amount(row.revenue, row.currency),
        promotional_credits=_amount(row.promotional_credits, row.currency),
        prepaid_credits=_amount(row.prepaid_credits, row.currency),
        attributed_cost=_amount(row.attributed_cost, row.currency),
        unbilled_cost=_amount(row.unbilled_cost, row.currency),
        cost=_amount(row.cost, row.currency),
        margin=_amount(row.margin, row.currency),
        margin_percent=_percent(row.margin_percent),
        unpriced_events=row.unpriced_events,
    )


def report_out(report: MarginReport) -> MarginReportOut:
    return MarginReportOut(
        period=report.period,
        as_of=report.as_of,
        customers=[customer_out(row) for row in report.customers],
        totals=[totals_out(row) for row in report.totals],
    )
