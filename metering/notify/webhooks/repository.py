"""Queries of webhook endpoints and deliveries, always scoped to one vendor."""

from __future__ import annotations

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.platform.outbox.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def get_endpoint(session: Session, vendor_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.vendor_id == vendor_id else None


def endpoints(vendor_id: str) -> SelectOfScalar[WebhookEndpoint]:
    return select(WebhookEndpoint).where(WebhookEndpoint.vendor_id == vendor_id)


def get_delivery(session: Session, vendor_id: str, delivery_id: str) -> WebhookDelivery | None:
    delivery = session.get(WebhookDelivery, delivery_id)
    return delivery if delivery is not None and delivery.vendor_id == vendor_id else None


def deliveries(
    vendor_id: str, endpoint_id: str | None = None, status: str | None = None
) -> SelectOfScalar[WebhookDelivery]:
    statement = select(WebhookDelivery).where(WebhookDelivery.vendor_id == vendor_id)
    if endpoint_id is not None:
        statement = statement.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return statement


def attempts_of(session: Session, delivery_id: str) -> list[WebhookAttempt]:
    statement = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(col(WebhookAttempt.id))
    )
    return list(session.exec(statement).all())
