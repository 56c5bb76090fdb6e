"""What Stripe's errors mean to the sync: which are worth retrying, whether Stripe answered,
why a payment was declined, and how to say it."""

from __future__ import annotations

import stripe

from metering.billing.payments.protocol import DeclineCode, Failure, FailureKind

# Answers Stripe does not keep under the idempotency key (no endpoint ran): a conflict with
# a request still running under the same key, a rate limit.
NOT_KEPT = (409, 429)

# Stripe's `decline_code` (first) or error `code`, as the customer needs to know it.
DECLINES: dict[str, DeclineCode] = {
    "insufficient_funds": DeclineCode.INSUFFICIENT_FUNDS,
    "authentication_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "invoice_payment_intent_requires_action": DeclineCode.AUTHENTICATION_REQUIRED,
    "expired_card": DeclineCode.EXPIRED_CARD,
    "card_declined": DeclineCode.CARD_DECLINED,
}


def classify(error: stripe.StripeError) -> FailureKind:
    """Connection errors, rate limits, conflicts and server errors pass; the rest do not."""
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return FailureKind.TRANSIENT
    status = error.http_status
    if status is None or status >= 500 or status in (409, 429):
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def answered(error: stripe.StripeError) -> bool:
    """Whether Stripe carried the request out and keeps its answer under the key (a 4xx or
    5xx it ran); not for a timeout or a refused connection (no answer), nor a 409 or 429."""
    return error.http_status is not None and error.http_status not in NOT_KEPT


def decline_code(error: stripe.StripeError) -> DeclineCode:
    """Why Stripe declined a payment."""
    details = error.error
    for code in (details.decline_code if details else None, error.code):
        if code in DECLINES:
            return DECLINES[code]
    return DeclineCode.OTHER


def describe(error: stripe.StripeError) -> str:
    """The error as an operator reads it in `sync_error`."""
    status = f" (HTTP {error.http_status})" if error.http_status else ""
    code = f" [{error.code}]" if error.code else ""
    message = error.user_message or str(error) or "no message"
    return f"Stripe {type(error).__name__}{status}{code}: {message}"


def failure(error: Exception) -> Failure | None:
    """A Stripe error's kind, words and whether Stripe answered; None for any other error."""
    if not isinstance(error, stripe.StripeError):
        return None
    return Failure(classify(error), describe(error), answered(error))
