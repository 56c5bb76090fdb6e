"""A subscription's billing period: the plan period containing an instant, cut to the
subscription (kept apart from the close so what reads periods needs not import it)."""

from __future__ import annotations

from datetime import datetime

from metering.catalog.subscriptions.models import Subscription
from pricing_rules.periods import Period, clip, period_containing
from pricing_rules.rules import RuleFile


def subscription_period(subscription: Subscription, rules: RuleFile, at: datetime) -> Period:
    """The plan period containing `at`, cut to the subscription."""
    billing = rules.billing
    period = period_containing(at, billing.interval, billing.timezone)
    return clip(period, subscription.starts_at, subscription.ends_at)
