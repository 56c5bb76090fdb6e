"""What Stripe's errors mean to the sync: which are worth retrying, and how to say them."""

from __future__ import annotations

import stripe

from metering.billing.payments.protocol import Failure, FailureKind


def classify(error: stripe.StripeError) -> FailureKind:
    """Connection errors, rate limits, conflicts and server errors pass; the rest do not."""
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return FailureKind.TRANSIENT
    status = error.http_status
    if status is None or status >= 500 or status in (409, 429):
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def describe(error: stripe.StripeError) -> str:
    """The error as an operator reads it in `sync_error`."""
    status = f" (HTTP {error.http_status})" if error.http_status else ""
    code = f" [{error.code}]" if error.code else ""
    message = error.user_message or str(error) or "no message"
    return f"Stripe {type(error).__name__}{status}{code}: {message}"


def failure(error: Exception) -> Failure | None:
    """A Stripe error's kind and words; None for any other error."""
    if not isinstance(error, stripe.StripeError):
        return None
    return Failure(classify(error), describe(error))
