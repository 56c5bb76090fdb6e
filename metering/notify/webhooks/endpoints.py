"""`/v1/webhook_endpoints` and `/v1/webhook_deliveries`: where the vendor's events go, and
every delivery with its attempts (another vendor's are 404)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session, col

from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.notify.webhooks import repository, service
from metering.notify.webhooks.destinations import AllowedHosts
from metering.notify.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
)
from metering.platform.api import problems
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.outbox.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from metering.platform.settings import Settings

router = APIRouter(tags=["webhooks"], responses=problem_responses(*API_KEY_PROBLEMS))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _allowed(request: Request) -> AllowedHosts:
    return AllowedHosts.parse(_settings(request).webhook_allowed_hosts)


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint, from_attributes=True)


def with_secret(endpoint: WebhookEndpoint) -> EndpointWithSecret:
    return EndpointWithSecret.model_validate(endpoint, from_attributes=True)


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        **delivery.model_dump(exclude={"attempts", "payload", "vendor_id", "lease_owner"}),
        attempt_count=delivery.attempts,
    )


def delivery_detail(session: Session, delivery: WebhookDelivery) -> DeliveryDetail:
    attempts = [
        AttemptOut.model_validate(attempt, from_attributes=True)
        for attempt in repository.attempts_of(session, delivery.id)
    ]
    return DeliveryDetail(
        **delivery_out(delivery).model_dump(),
        payload=json.loads(delivery.payload),
        attempts=attempts,
    )


@router.post(
    "/v1/webhook_endpoints",
    response_model=EndpointWithSecret,
    status_code=201,
    summary="Register a webhook endpoint",
    responses=problem_responses(problems.INVALID_REQUEST, problems.WEBHOOK_URL_REFUSED),
)
def create_endpoint(
    data: EndpointCreate,
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> EndpointWithSecret:
    """The answer carries the endpoint's signing secret, shown this once. The URL must be
    https on a public address (checked again, after DNS, at every delivery)."""
    endpoint = service.create_endpoint(session, vendor, data, _allowed(request))
    session.commit()
    return with_secret(endpoint)


@router.get(
    "/v1/webhook_endpoints",
    response_model=Page[EndpointOut],
    summary="List webhook endpoints",
    responses=problem_responses(problems.INVALID_CURSOR),
)
def list_endpoints(
    cursor: Cursor = None,
    limit: Limit = 100,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[EndpointOut]:
    statement = repository.endpoints(vendor.id)
    rows, next_cursor = paginate(session, statement, col(WebhookEndpoint.id), cursor, limit)
    return Page[EndpointOut](data=[endpoint_out(row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Get a webhook endpoint",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_endpoint(
    endpoint_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> EndpointOut:
    return endpoint_out(service.endpoint_or_404(session, vendor, endpoint_id))


@router.patch(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Update a webhook endpoint",
    responses=problem_responses(
        problems.NOT_FOUND, problems.INVALID_REQUEST, problems.WEBHOOK_URL_REFUSED
    ),
)
def update_endpoint(
    endpoint_id: str,
    data: EndpointUpdate,
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> EndpointOut:
    """Disabling pauses the endpoint: events are no longer written for it, and its pending
    deliveries wait until it is enabled again."""
    endpoint = service.endpoint_or_404(session, vendor, endpoint_id)
    service.update_endpoint(session, endpoint, data, _allowed(request))
    session.commit()
    return endpoint_out(endpoint)


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}/rotate_secret",
    response_model=EndpointWithSecret,
    summary="Rotate an endpoint's signing secret",
    responses=problem_responses(problems.NOT_FOUND),
)
def rotate_secret(
    endpoint_id: str,
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> EndpointWithSecret:
    """The new secret, shown once. Deliveries are signed with both the new and the old secret
    for the grace period (`METERING_SECRET_GRACE_PERIOD`, 24 h), so either verifies."""
    endpoint = service.endpoint_or_404(session, vendor, endpoint_id)
    service.rotate_secret(session, endpoint, _settings(request).secret_grace_period)
    session.commit()
    return with_secret(endpoint)


@router.delete(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Disable a webhook endpoint",
    responses=problem_responses(problems.NOT_FOUND),
)
def delete_endpoint(
    endpoint_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> EndpointOut:
    """The endpoint is disabled (paused), not erased: its deliveries stay visible."""
    endpoint = service.endpoint_or_404(session, vendor, endpoint_id)
    service.update_endpoint(session, endpoint, EndpointUpdate(enabled=False), AllowedHosts())
    session.commit()
    return endpoint_out(endpoint)


@router.get(
    "/v1/webhook_deliveries",
    response_model=Page[DeliveryOut],
    summary="List webhook deliveries",
    responses=problem_responses(problems.INVALID_CURSOR, problems.INVALID_REQUEST),
)
def list_deliveries(
    cursor: Cursor = None,
    limit: Limit = 100,
    endpoint: str | None = Query(None, description="Only this endpoint's (we_...)."),
    status: DeliveryStatus | None = Query(None, description="pending, delivered or failed."),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[DeliveryOut]:
    """Oldest first."""
    statement = repository.deliveries(vendor.id, endpoint, status.value if status else None)
    rows, next_cursor = paginate(session, statement, col(WebhookDelivery.id), cursor, limit)
    return Page[DeliveryOut](data=[delivery_out(row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/v1/webhook_deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="Get a delivery with its attempts",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_delivery(
    delivery_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> DeliveryDetail:
    return delivery_detail(session, service.delivery_or_404(session, vendor, delivery_id))


@router.post(
    "/v1/webhook_deliveries/{delivery_id}/retry",
    response_model=DeliveryDetail,
    summary="Send a delivery again",
    responses=problem_responses(problems.NOT_FOUND),
)
def retry_delivery(
    delivery_id: str,
    request: Request,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> DeliveryDetail:
    """Due now, with a fresh retry window: a failed delivery is tried again, a delivered one
    is sent once more (same `webhook-id`, so the receiver can tell)."""
    delivery = service.delivery_or_404(session, vendor, delivery_id)
    service.retry_delivery(session, delivery, _settings(request).webhook_retry_window)
    session.commit()
    return delivery_detail(session, delivery)
