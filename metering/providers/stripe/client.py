"""The Stripe client the sync uses, built from the settings (no key: no sync)."""

from __future__ import annotations

import stripe

from metering.platform.settings import Settings

# The Stripe API version the sync was written and tested for, sent with every request (the
# `stripe` package's own default moves with its releases; pyproject bounds its major version).
STRIPE_API_VERSION = "2026-10-28.endive"


def make_client(settings: Settings) -> stripe.StripeClient | None:
    """A client on `settings.stripe_api_base` (a local fake in tests); None without a key.

    Retries inside the library stay off by default (`stripe_max_network_retries` = 0): a
    failed step is retried by the sync's own backoff, which survives a restart.
    """
    if not settings.stripe_api_key:
        return None
    return stripe.StripeClient(
        settings.stripe_api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": settings.stripe_api_base},
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )
