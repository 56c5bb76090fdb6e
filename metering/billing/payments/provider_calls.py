"""A provider call made while answering an API request or a webhook (not from the sync,
which has its own backoff): the provider's own failures become a 503 that says nothing was
changed, so the client (or the provider redelivering its webhook) tries again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from metering.billing.payments.protocol import PaymentProvider
from metering.platform.api import problems

T = TypeVar("T")


def ask(provider: PaymentProvider, call: Callable[[], T]) -> T:
    """`call`'s answer; a `PROVIDER_UNAVAILABLE` problem when the provider failed."""
    try:
        return call()
    except Exception as error:
        failure = provider.failure(error)
        if failure is None:
            raise
        raise problems.PROVIDER_UNAVAILABLE.error(
            f"{provider.label} failed: {failure.message}. Nothing was changed; try again."
        ) from error
