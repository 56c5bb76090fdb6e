"""Endpoints and deliveries for webhook tests, made through the service like the API does."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.vendors.models import Vendor
from metering.notify.webhooks import service
from metering.notify.webhooks.destinations import AllowedHosts
from metering.notify.webhooks.schemas import EndpointCreate
from metering.platform.outbox.models import WebhookDelivery, WebhookEndpoint
from tests.metering.conftest import LOCAL_RECEIVERS


def add_endpoint(
    engine: Engine, vendor_id: str, url: str, event_types: list[str], *, enabled: bool = True
) -> WebhookEndpoint:
    """A stored endpoint (its secret in clear on the returned row)."""
    with Session(engine, expire_on_commit=False) as session:
        vendor = session.get(Vendor, vendor_id)
        assert vendor is not None
        data = EndpointCreate.model_validate({"url": url, "event_types": event_types})
        allowed = AllowedHosts.parse(LOCAL_RECEIVERS)
        endpoint = service.create_endpoint(session, vendor, data, allowed)
        endpoint.enabled = enabled
        session.commit()
        return endpoint


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        statement = select(WebhookDelivery).order_by(col(WebhookDelivery.id))
        return list(session.exec(statement).all())


def payload(delivery: WebhookDelivery) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(delivery.payload)
    return body
