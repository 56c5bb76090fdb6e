"""Which sync failures are worth retrying, and when the next attempt is due."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from enum import StrEnum

import stripe


class PermanentSyncError(Exception):
    """A failure that retrying cannot fix (Stripe disagrees with our invoice, bad data)."""


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # the network, 429, 409 or a 5xx: retry with backoff
    PERMANENT = "permanent"  # any other 4xx or bad data: stop and show the error


def classify(error: Exception) -> FailureKind:
    """Connection errors, rate limits, conflicts and server errors pass; the rest do not."""
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return FailureKind.TRANSIENT
    if isinstance(error, stripe.StripeError):
        status = error.http_status
        if status is None or status >= 500 or status in (409, 429):
            return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def describe(error: Exception) -> str:
    """The error as an operator reads it in `sync_error`."""
    if isinstance(error, PermanentSyncError):
        return str(error)
    if isinstance(error, stripe.StripeError):
        status = f" (HTTP {error.http_status})" if error.http_status else ""
        code = f" [{error.code}]" if error.code else ""
        message = error.user_message or str(error) or "no message"
        return f"Stripe {type(error).__name__}{status}{code}: {message}"
    return f"{type(error).__name__}: {error}"


def backoff(
    now: datetime, attempts: int, base: timedelta, cap: timedelta, rng: random.Random | None = None
) -> datetime:
    """When attempt number `attempts + 1` is due: base * 2^attempts, capped, "equal jitter"
    (between half and all of that delay, so workers retrying together spread out)."""
    delay = min(cap, base * (2 ** min(attempts, 30)))
    fraction = 0.5 + 0.5 * (rng.random() if rng is not None else random.random())
    due: datetime = now + delay * fraction
    return due
