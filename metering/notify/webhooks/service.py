"""Webhook endpoints (create, change, rotate, disable) and manual retries of deliveries.

Functions add and flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from metering.catalog.vendors.credentials import new_signing_secret
from metering.catalog.vendors.models import Vendor
from metering.notify.webhooks import repository
from metering.notify.webhooks.destinations import AllowedHosts, check_url
from metering.notify.webhooks.schemas import EndpointCreate, EndpointUpdate
from metering.platform.api import problems
from metering.platform.api.problems import not_found
from metering.platform.db.ids import new_id
from metering.platform.db.types import utcnow
from metering.platform.outbox.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


def endpoint_or_404(session: Session, vendor: Vendor, endpoint_id: str) -> WebhookEndpoint:
    endpoint = repository.get_endpoint(session, vendor.id, endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint", endpoint_id)
    return endpoint


def delivery_or_404(session: Session, vendor: Vendor, delivery_id: str) -> WebhookDelivery:
    delivery = repository.get_delivery(session, vendor.id, delivery_id)
    if delivery is None:
        raise not_found("webhook delivery", delivery_id)
    return delivery


def _types(values: list[str]) -> list[str]:
    """Each type once, in a stable order (the API shows them sorted)."""
    return sorted(set(values))


def checked_url(url: str, allowed: AllowedHosts) -> str:
    """`url` when webhooks may go there (`destinations.check_url`), else a 422 naming why."""
    reason = check_url(url, allowed)
    if reason is not None:
        message = f"{url} is refused: {reason}; webhooks go to https URLs on public addresses"
        raise problems.WEBHOOK_URL_REFUSED.error(
            f"url: {message}.", extra={"errors": [{"field": "url", "message": message}]}
        )
    return url


def create_endpoint(
    session: Session, vendor: Vendor, data: EndpointCreate, allowed: AllowedHosts
) -> WebhookEndpoint:
    """A new enabled endpoint with its own signing secret (the caller shows it once)."""
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        vendor_id=vendor.id,
        url=checked_url(str(data.url), allowed),
        description=data.description,
        event_types=_types([event.value for event in data.event_types]),
        secret=new_signing_secret(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session, endpoint: WebhookEndpoint, data: EndpointUpdate, allowed: AllowedHosts
) -> WebhookEndpoint:
    """Disabling pauses the endpoint: no new deliveries, and pending ones wait until it is
    enabled again."""
    if data.url is not None:
        endpoint.url = checked_url(str(data.url), allowed)
    if data.event_types is not None:
        endpoint.event_types = _types([event.value for event in data.event_types])
    if data.description is not None:
        endpoint.description = data.description
    if data.enabled is not None:
        endpoint.enabled = data.enabled
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.flush()
    return endpoint


def rotate_secret(
    session: Session, endpoint: WebhookEndpoint, grace: timedelta, now: datetime | None = None
) -> WebhookEndpoint:
    """A new secret; deliveries carry a signature with the old one too until `now + grace`,
    so the receiver can switch secrets without refusing a delivery in between."""
    now = now or utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + grace
    endpoint.secret = new_signing_secret()
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    return endpoint


def retry_delivery(
    session: Session, delivery: WebhookDelivery, window: timedelta, now: datetime | None = None
) -> WebhookDelivery:
    """Due again now with a fresh retry window (also a delivered one: sent once more)."""
    now = now or utcnow()
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = now
    delivery.give_up_at = now + window
    delivery.lease_owner = None
    session.add(delivery)
    session.flush()
    return delivery
