"""`/vendor/margin`: the margin report as a page, for a vendor signed in at /vendor/login.

The same report as `GET /v1/reports/margin`, amounts rounded (half-up) to the currency's
minor unit for reading, with two charts drawn on the server: revenue and cost per outcome
type (unbilled cost as its own bar). Totals are per currency, so charts are per currency.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from metering.catalog.customers import repository as customers
from metering.catalog.plans import repository as plans
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.web import format as web_format
from metering.platform.web.charts import Point, bar_chart
from metering.platform.web.templating import humanize, render
from metering.surfaces.reports.margin import MarginReport, OutcomeMargin, value_order
from metering.surfaces.reports.service import BadPeriod, margin_report
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context
from pricing_rules.money import round_money
from pricing_rules.periods import next_period, period_containing, period_from_label

router = APIRouter(include_in_schema=False)
UNBILLED = "Unbilled"


def money(amount: Decimal, currency: str) -> str:
    """An amount for reading: rounded half-up to the minor unit, in the vendor's locale."""
    return web_format.money(round_money(amount, currency), currency)


def percent(value: Decimal | None) -> str:
    """`93.5%`: one decimal, no space (how the vendor's people write it)."""
    return "n/a" if value is None else f"{value:.1f}%"


def neighbour_links(label: str, customer: str, plan: str) -> dict[str, str]:
    """The margin page of the month before and after `label` (same filters); none when the
    label is not a month (a week, a quarter or a year can still be typed in the URL)."""
    try:
        month = period_from_label(label, "month", "UTC")
    except ValueError:
        return {}
    before = period_containing(month.start - timedelta(seconds=1), "month", "UTC")
    after = next_period(month, "month", "UTC")
    filters = {key: value for key, value in (("customer", customer), ("plan", plan)) if value}
    return {
        name: "/vendor/margin?" + urlencode({"period": period.label, **filters})
        for name, period in (("previous", before), ("next", after))
    }


def by_value(item: OutcomeMargin) -> list[tuple[str, OutcomeMargin]]:
    """An outcome's figures per `group_by` value, as invoices list them."""
    return [
        ("(none)" if value is None else value, item.values[value])
        for value in sorted(item.values, key=value_order)
    ]


def _charts(report: MarginReport) -> list[dict[str, Any]]:
    """Per currency: revenue by outcome type, and cost by outcome type plus unbilled."""
    charts = []
    for totals in report.totals:
        currency = totals.currency
        revenue = {name: item.revenue for name, item in totals.outcomes.items()}
        cost = {name: item.cost for name, item in totals.outcomes.items()}
        cost[UNBILLED] = totals.unbilled_cost

        def show(value: Decimal | int, currency: str = currency) -> str:
            return money(Decimal(value), currency)

        charts.append(
            {
                "currency": currency,
                "revenue": bar_chart(
                    [Point(humanize(n), max(v, Decimal(0))) for n, v in sorted(revenue.items())],
                    title=f"Revenue per outcome type ({currency.upper()})",
                    value_label="Revenue",
                    label_heading="Outcome type",
                    show=show,
                ),
                "cost": bar_chart(
                    [Point(humanize(n) if n != UNBILLED else n, v) for n, v in cost.items()],
                    title=f"AI cost per outcome type ({currency.upper()})",
                    value_label="Cost",
                    label_heading="Outcome type",
                    show=show,
                ),
            }
        )
    return charts


@router.get("/vendor/margin", response_class=HTMLResponse)
def margin_page(
    request: Request,
    period: str | None = Query(None, description="Period label, e.g. 2026-11."),
    customer: str | None = Query(
        None, description="Only this customer: your id for it, or ours (cus_...)."
    ),
    plan: str | None = Query(None, description="Only this plan (id or slug)."),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """The margin report of a period (this month by default)."""
    now = utcnow()
    label = period or period_containing(now, "month", "UTC").label
    values: dict[str, Any] = {
        "vendor": context.vendor,
        "csrf_token": context.csrf_token,
        "period": label,
        "month": label if neighbour_links(label, "", "") else "",
        "links": neighbour_links(label, customer or "", plan or ""),
        "customer": customer or "",
        "plan": plan or "",
        "money": money,
        "percent": percent,
        "by_value": by_value,
        "report": None,
        "error": None,
    }
    customer_id = plan_id = None
    if customer:
        found = customers.by_reference(session, context.vendor.id, customer)
        customer_id = found.id if found is not None else ""
    if plan:
        found_plan = plans.by_ref(session, context.vendor.id, plan)
        plan_id = found_plan.id if found_plan is not None else ""
    try:
        report = margin_report(
            session, context.vendor.id, label, now, customer_id=customer_id, plan_id=plan_id
        )
    except BadPeriod as error:
        values["error"] = str(error)
        return render(request, "vendor/margin.html", values, status_code=422)
    values["report"] = report
    values["charts"] = _charts(report)
    return render(request, "vendor/margin.html", values)
