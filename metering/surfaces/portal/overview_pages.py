"""`/portal`: the current period so far, the projected invoice, and the previous period."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from metering.billing.commitments import service as commitments
from metering.billing.commitments.schemas import CommitmentOut
from metering.platform.api.clock import request_now
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.web.charts import Point, bar_chart
from metering.surfaces.portal import credits, overview_words
from metering.surfaces.portal import overview as overview_service
from metering.surfaces.portal.auth import PortalContext, portal_context, render_page

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    portal: PortalContext = Depends(portal_context),
    session: Session = Depends(get_session),
    now: datetime = Depends(request_now),
) -> HTMLResponse:
    try:
        shown = overview_service.build(session, portal.customer, now)
    except ProblemError as problem:
        if problem.status != 404:
            raise
        return render_page(request, portal, "portal/overview_empty.html", {})
    fmt = portal.fmt
    chart = bar_chart(
        [Point(fmt.day(d.day), d.count) for d in shown.per_day],
        title="Outcomes per day this period",
        value_label="Outcomes",
        show=fmt.number,
    )
    return render_page(
        request,
        portal,
        "portal/overview.html",
        {
            "overview": shown,
            "upcoming": shown.upcoming,
            "chart": chart,
            "words": overview_words.lines(session, shown.upcoming, fmt),
            "names": overview_words.names(session, shown.upcoming),
            "credit": next(
                (
                    b.line
                    for b in credits.balances(
                        session, portal.customer, now, shown.rated.lines if shown.rated else None
                    )
                    if b.line.currency == shown.upcoming.currency
                ),
                None,
            ),
            "commitment": _commitment(session, portal, now),
        },
    )


def _commitment(session: Session, portal: PortalContext, now: datetime) -> CommitmentOut | None:
    """Consumption against the commitment, when the customer's plan has one."""
    try:
        return commitments.consumption(session, portal.customer, now)
    except ProblemError as problem:
        if problem.status != 404:
            raise
        return None
