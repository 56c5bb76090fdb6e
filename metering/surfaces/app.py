"""The FastAPI application: one router per domain, RFC 9457 errors, one engine per app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends
from sqlmodel import Session

from metering.billing.allowance import endpoints as allowance
from metering.billing.commitments import endpoints as commitments
from metering.billing.credit_purchases import endpoints as credit_purchases
from metering.billing.credit_purchases import service as purchases
from metering.billing.credit_purchases import top_up
from metering.billing.credits import endpoints as credits
from metering.billing.invoices import endpoints as invoices
from metering.billing.payments import endpoints as payments
from metering.catalog.customers import endpoints as customers
from metering.catalog.plans import endpoints as plans
from metering.catalog.subscriptions import endpoints as subscriptions
from metering.catalog.vendors import endpoints as vendors
from metering.ledger.disputes import endpoints as disputes
from metering.ledger.events import endpoints as events
from metering.ledger.plan_changes import endpoints as plan_changes
from metering.notify.alerts import endpoints as alerts
from metering.notify.credit_notices import endpoints as credit_notices
from metering.notify.webhooks import endpoints as webhooks_out
from metering.platform import collector
from metering.platform.api import health
from metering.platform.api.inputs import check_request
from metering.platform.api.openapi import install_openapi
from metering.platform.api.problem_docs import catalogue_table
from metering.platform.api.problem_handlers import install_problem_handlers
from metering.platform.db.engine import make_engine
from metering.platform.monitoring.requests import MonitoredApp
from metering.platform.settings import Settings, get_settings
from metering.providers.stripe import endpoints as stripe_webhook
from metering.surfaces import monitoring
from metering.surfaces.payment_methods import endpoints as payment_methods
from metering.surfaces.portal.router import install_portal
from metering.surfaces.provider_accounts import LinkedAccounts
from metering.surfaces.reports import endpoints as reports
from metering.surfaces.simulation import endpoints as simulation
from metering.surfaces.vendor_web.endpoints import install_vendor_web

DESCRIPTION = """\
Outcome events in, billable outcomes out.

* **Webhook** `POST /v1/webhooks/{vendor_id}/events`: signed with Standard Webhooks
  (`webhook-id`, `webhook-timestamp`, `webhook-signature`) using the vendor's signing secret.
* **REST API** under `/v1`: `Authorization: Bearer <api key>`.

Every error is an RFC 9457 problem (`application/problem+json`) of one of these types:

"""


def create_app(settings: Settings | None = None) -> MonitoredApp:
    """An app on `settings.database_url` (the process settings by default)."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: MonitoredApp) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = MonitoredApp(
        title="Outcome metering",
        version="0.1.0",
        description=DESCRIPTION + catalogue_table(),
        lifespan=lifespan,
        dependencies=[Depends(check_request)],  # input no column can hold stops here
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.provider_accounts = LinkedAccounts(settings)
    providers = purchases.providers_of(settings)

    def after_ingest(
        session: Session, _vendor_id: str, customer_ids: set[str]
    ) -> Callable[[], object] | None:
        """Automatic top-ups of the customers whose events came in (once a minute each):
        which of them have one is read in the request's transaction, and only for those
        does a check run after the answer (most batches need no connection of their own)."""
        configured = top_up.with_top_ups(session, customer_ids)
        if not configured:
            return None
        return lambda: top_up.check_configured(engine, configured, providers)

    app.state.after_ingest = after_ingest
    install_problem_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(monitoring.router)
    app.include_router(vendors.router)
    app.include_router(customers.router)
    app.include_router(subscriptions.router)
    app.include_router(plans.router)
    app.include_router(plan_changes.router)
    app.include_router(simulation.router)
    app.include_router(events.router)
    app.include_router(invoices.router)
    app.include_router(credits.router)
    app.include_router(commitments.router)
    app.include_router(credit_purchases.router)
    app.include_router(allowance.router)
    app.include_router(payments.router)
    app.include_router(payment_methods.router)
    app.include_router(reports.router)
    app.include_router(disputes.router)
    app.include_router(stripe_webhook.router)
    app.include_router(webhooks_out.router)
    app.include_router(alerts.router)
    app.include_router(credit_notices.router)
    install_portal(app)
    install_vendor_web(app)
    return app


def create_served_app() -> MonitoredApp:
    """The app `metering serve` runs in each worker process: `create_app` with the
    collector settled for serving (`collector.settle_for_serving`). Tests keep
    `create_app`, whose apps come and go."""
    app = create_app()
    collector.settle_for_serving()
    return app
