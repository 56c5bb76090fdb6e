"""`/vendor/alerts`: the vendor's alert rules in force and their recent firings (what
`GET /v1/alerts` and `GET /v1/alert_firings` list), newest firing first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col

from metering.billing.invoices.repository import external_ids
from metering.catalog.plans import repository as plans
from metering.notify.alerts import repository
from metering.notify.alerts.models import AlertFiring, AlertKind, AlertRule
from metering.platform.db.session import get_session
from metering.platform.web.templating import render
from metering.surfaces.vendor_web import console
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context

router = APIRouter(include_in_schema=False)
LIST = "/vendor/alerts"
PAGE = console.PAGE_SIZE
KIND_LABELS = {
    AlertKind.SPEND.value: "Spend reaches",
    AlertKind.OUTCOME_COUNT.value: "Billable outcomes reach",
    AlertKind.MAXIMUM_PERCENT.value: "Percent of the plan maximum reaches",
}


@router.get(LIST, response_class=HTMLResponse)
def alerts_page(
    request: Request,
    before: int | None = Query(None, ge=1, description="Firings older than this id."),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Every rule in force (rules are few), and the firings a page at a time."""
    rules = session.exec(
        repository.rules(context.vendor.id).order_by(col(AlertRule.created_at), col(AlertRule.id))
    ).all()
    statement = repository.firings(context.vendor.id)
    if before is not None:
        statement = statement.where(col(AlertFiring.id) < before)
    found = session.exec(statement.order_by(col(AlertFiring.id).desc()).limit(PAGE + 1)).all()
    firings = found[:PAGE]
    older = firings[-1].id if len(found) > PAGE else None
    customer_ids = {r.customer_id for r in rules if r.customer_id} | {
        f.customer_id for f in firings
    }
    plan_slugs = {
        plan.id: plan.slug for plan in session.exec(plans.plans_of(context.vendor.id)).all()
    }
    return render(
        request,
        "vendor/alerts.html",
        console.values(
            context,
            "alerts",
            rules=rules,
            firings=firings,
            names={rule.id: rule.name or rule.id for rule in rules},
            customers=external_ids(session, customer_ids),
            plans=plan_slugs,
            kinds=KIND_LABELS,
            older=older,
            first_page=before is None,
        ),
    )
