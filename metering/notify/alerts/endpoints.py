"""`/v1/alerts`: thresholds on customers' periods; `/v1/alert_firings`: when they fired."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, col

from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.notify.alerts import repository, service
from metering.notify.alerts.models import AlertFiring, AlertRule
from metering.notify.alerts.schemas import AlertCreate, AlertOut, FiringOut
from metering.platform.api import problems
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session

router = APIRouter(tags=["alerts"], responses=problem_responses(*API_KEY_PROBLEMS))


@router.post(
    "/v1/alerts",
    response_model=AlertOut,
    status_code=201,
    summary="Create an alert",
    responses=problem_responses(
        problems.NOT_FOUND, problems.INVALID_ALERT, problems.INVALID_REQUEST
    ),
)
def create_alert(
    data: AlertCreate,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> AlertOut:
    """Fires once per customer and period when the period's figure reaches the threshold
    (also when a late event brings it there before the period closes), sending an
    `alert.triggered` webhook event."""
    rule = service.create(session, vendor, data)
    session.commit()
    return service.alert_out(rule)


@router.get(
    "/v1/alerts",
    response_model=Page[AlertOut],
    summary="List alerts",
    responses=problem_responses(problems.INVALID_CURSOR),
)
def list_alerts(
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[AlertOut]:
    statement = repository.rules(vendor.id)
    rows, next_cursor = paginate(session, statement, col(AlertRule.id), cursor, limit)
    return Page[AlertOut](data=[service.alert_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/v1/alerts/{alert_id}",
    response_model=AlertOut,
    summary="Get an alert",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_alert(
    alert_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> AlertOut:
    return service.alert_out(service.rule_or_404(session, vendor, alert_id))


@router.delete(
    "/v1/alerts/{alert_id}",
    status_code=204,
    summary="Delete an alert",
    responses=problem_responses(problems.NOT_FOUND),
)
def delete_alert(
    alert_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> None:
    """It stops firing; its past firings stay listed."""
    service.delete(session, service.rule_or_404(session, vendor, alert_id))
    session.commit()


@router.get(
    "/v1/alert_firings",
    response_model=Page[FiringOut],
    summary="List alert firings",
    responses=problem_responses(problems.INVALID_CURSOR, problems.NOT_FOUND),
)
def list_firings(
    cursor: Cursor = None,
    limit: Limit = 100,
    alert: str | None = Query(None, description="Only this alert's (alr_...)."),
    customer: str | None = Query(
        None, description="Only this customer's: our id (cus_...) or yours."
    ),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[FiringOut]:
    """Oldest first; a plan maximum reached shows with kind `maximum_reached` and no alert.
    An unknown customer is a 404."""
    customer_id = None
    if customer is not None:
        customer_id = customers.by_reference_or_404(session, vendor, customer).id
    statement = repository.firings(vendor.id, alert, customer_id)
    rows, next_cursor = paginate(session, statement, col(AlertFiring.id), cursor, limit)
    return Page[FiringOut](data=[service.firing_out(r) for r in rows], next_cursor=next_cursor)
