"""`/v1/reports/margin`: revenue against AI cost per period, customer and outcome type."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from metering.catalog.customers import service as customers
from metering.catalog.plans import repository as plans
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.api.problems import not_found
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.surfaces.reports import service
from metering.surfaces.reports.schemas import MarginReportOut, report_out

router = APIRouter(tags=["reports"], responses=problem_responses(*API_KEY_PROBLEMS))


@router.get(
    "/v1/reports/margin",
    response_model=MarginReportOut,
    summary="Margin per outcome for a period",
    responses=problem_responses(
        problems.NOT_FOUND, problems.INVALID_PERIOD, problems.INVALID_REQUEST
    ),
)
def margin(
    period: str = Query(..., description="Period label in the plans' interval, e.g. 2026-11."),
    customer: str | None = Query(
        None, description="Only this customer: our id (cus_...) or yours."
    ),
    plan: str | None = Query(None, description="Only customers on this plan (id or slug)."),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> MarginReportOut:
    """Per customer and outcome type: outcomes (settled, pending), revenue, attributed cost,
    margin and margin percent; per customer: revenue not per outcome, unbilled and unpriced
    cost; totals per currency. Invoiced periods show their billed lines, open ones are
    rated live."""
    customer_id = None
    if customer is not None:
        customer_id = customers.by_reference_or_404(session, vendor, customer).id
    plan_id = None
    if plan is not None:
        found = plans.by_ref(session, vendor.id, plan)
        if found is None:
            raise not_found("plan", plan)
        plan_id = found.id
    try:
        report = service.margin_report(
            session, vendor.id, period, utcnow(), customer_id=customer_id, plan_id=plan_id
        )
    except service.BadPeriod as error:
        raise problems.INVALID_PERIOD.error(str(error)) from None
    return report_out(report)
