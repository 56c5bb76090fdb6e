"""`/vendor/webhooks`: outbound webhook deliveries, failed first, each with the endpoint it
goes to; retry sends one again through the service of `POST /v1/webhook_deliveries/{id}/retry`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from metering.notify.webhooks import repository, service
from metering.platform.api.deps import app_settings
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.outbox.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from metering.platform.settings import Settings
from metering.platform.web.templating import render
from metering.surfaces.vendor_web import console
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context

router = APIRouter(include_in_schema=False)
LIST = "/vendor/webhooks"


@router.get(LIST, response_class=HTMLResponse)
def deliveries_page(
    request: Request,
    status: str = Query(""),
    cursor: str | None = Query(None),
    done: str = Query(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Failed deliveries first, then the others, newest first."""
    statuses = [s.value for s in DeliveryStatus]
    chosen = status if status in statuses else None
    statement = repository.deliveries(context.vendor.id, None, chosen)
    try:
        rows, next_cursor = console.first_then_newest(
            session,
            statement,
            col(WebhookDelivery.status),
            DeliveryStatus.FAILED.value,
            col(WebhookDelivery.id),
            cursor or None,
        )
    except ProblemError as error:
        return console.problem_page(request, context, error, LIST)
    endpoint_ids = sorted({row.endpoint_id for row in rows})
    endpoints = {
        found.id: found.url
        for found in session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
        )
    }
    notice = None
    if done and (retried := repository.get_delivery(session, context.vendor.id, done)):
        notice = f"Delivery of {retried.event_type} ({retried.event_id}) is due again now."
    return render(
        request,
        "vendor/webhooks.html",
        console.values(
            context,
            "webhooks",
            deliveries=rows,
            endpoints=endpoints,
            statuses=statuses,
            status=chosen or "",
            notice=notice,
            next_cursor=next_cursor,
            first_page=cursor is None,
        ),
    )


@router.post(LIST + "/{delivery_id}/retry", response_model=None)
def retry(
    request: Request,
    delivery_id: str,
    csrf_token: str = Form(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    """Due now with a fresh retry window; the delivery job sends it."""
    try:
        console.check_csrf(context, csrf_token)
        delivery = service.delivery_or_404(session, context.vendor, delivery_id)
    except ProblemError as error:
        return console.problem_page(request, context, error, LIST)
    service.retry_delivery(session, delivery, settings.webhook_retry_window)
    session.commit()
    return RedirectResponse(f"{LIST}?done={delivery.id}", status_code=303)
