"""The FastAPI application: one router per domain, RFC 9457 errors, one engine per app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from metering.alerts import endpoints as alerts
from metering.api import health
from metering.api.problems import install_problem_handlers
from metering.customers import endpoints as customers
from metering.db.engine import make_engine
from metering.disputes import endpoints as disputes
from metering.events import endpoints as events
from metering.invoices import endpoints as invoices
from metering.plans import endpoints as plans
from metering.portal.router import install_portal
from metering.reports import endpoints as reports
from metering.settings import Settings, get_settings
from metering.simulation import endpoints as simulation
from metering.stripe_sync import endpoints as stripe_webhook
from metering.subscriptions import endpoints as subscriptions
from metering.vendor_web.endpoints import install_vendor_web
from metering.vendors import endpoints as vendors
from metering.webhooks_out import endpoints as webhooks_out

DESCRIPTION = """\
Outcome events in, billable outcomes out.

* **Webhook** `POST /v1/webhooks/{vendor_id}/events`: signed with Standard Webhooks
  (`webhook-id`, `webhook-timestamp`, `webhook-signature`) using the vendor's signing secret.
* **REST API** under `/v1`: `Authorization: Bearer <api key>`.

Every error is an RFC 9457 problem (`application/problem+json`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app on `settings.database_url` (the process settings by default)."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Outcome metering",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(vendors.router)
    app.include_router(customers.router)
    app.include_router(subscriptions.router)
    app.include_router(plans.router)
    app.include_router(simulation.router)
    app.include_router(events.router)
    app.include_router(invoices.router)
    app.include_router(reports.router)
    app.include_router(disputes.router)
    app.include_router(stripe_webhook.router)
    app.include_router(webhooks_out.router)
    app.include_router(alerts.router)
    install_portal(app)
    install_vendor_web(app)
    return app
