"""The payment provider the settings configure, and the sync run with it.

For now every invoice goes to one provider: Stripe when `METERING_STRIPE_API_KEY` is set,
else none (invoices are issued and wait; a key set later syncs them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from metering.billing.payments import sync
from metering.billing.payments.protocol import PaymentProvider
from metering.platform.settings import Settings
from metering.providers.stripe.provider import StripeProvider

OFF = "Stripe sync off (no stripe_api_key)"


def configured_provider(settings: Settings) -> PaymentProvider | None:
    if settings.stripe_api_key is None:
        return None
    return StripeProvider.from_settings(settings)


def sync_settings(settings: Settings) -> sync.SyncSettings:
    return sync.SyncSettings(settings.sync_lease, settings.sync_retry_base, settings.sync_retry_cap)


def sync_due(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    owner: str | None = None,
    limit: int = 100,
) -> sync.SyncReport:
    """Sync up to `limit` due invoices with the configured provider; nothing without one."""
    provider = configured_provider(settings)
    if provider is None:
        return sync.SyncReport(off=OFF)
    return sync.sync_due(engine, provider, sync_settings(settings), now, owner, limit)
