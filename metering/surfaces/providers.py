"""The payment providers the settings configure, and the sync run with each.

`manual` is always there (the vendor sends its invoices and records payments through the
API); Stripe when `METERING_STRIPE_API_KEY` is set. Each invoice is collected by the provider
its customer had when it was issued (`customers.payment_provider`); the invoices of a
provider that is not configured wait, and a key set later syncs them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from metering.billing.payments import sync
from metering.billing.payments.protocol import PaymentProvider
from metering.platform.settings import Settings
from metering.providers.manual.provider import ManualProvider
from metering.providers.stripe.provider import StripeProvider

STRIPE_OFF = "Stripe sync off (no stripe_api_key)"


def configured_providers(settings: Settings) -> list[PaymentProvider]:
    """Every provider that can run: manual, and Stripe when it has a key."""
    providers: list[PaymentProvider] = [ManualProvider()]
    if settings.stripe_api_key is not None:
        providers.append(StripeProvider.from_settings(settings))
    return providers


def sync_settings(settings: Settings) -> sync.SyncSettings:
    return sync.SyncSettings(settings.sync_lease, settings.sync_retry_base, settings.sync_retry_cap)


def sync_due(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    owner: str | None = None,
    limit: int = 100,
) -> sync.SyncReport:
    """Sync up to `limit` due invoices of each configured provider."""
    report = sync.SyncReport()
    if settings.stripe_api_key is None:
        report.off.append(STRIPE_OFF)
    for provider in configured_providers(settings):
        done = sync.sync_due(engine, provider, sync_settings(settings), now, owner, limit)
        report.results.extend(done.results)
        report.skipped += done.skipped
    return report
