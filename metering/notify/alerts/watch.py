"""Which periods an evaluation looks at: those that can still change and something watches.

A period can change while it runs and, through late events, until its close (its end plus
the plan's `close_after`); it is watched a little longer (`GRACE`) so that an evaluation
run after the close still sees its final figures. A subscription is watched when an alert
rule names its customer or its plan, or when its plan version has a maximum (which notifies
once reached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions.models import Subscription
from metering.notify.alerts.models import AlertRule
from pricing_rules.periods import Period, clip, period_containing
from pricing_rules.rules import RuleFile

GRACE = timedelta(days=1)
# Subscriptions that ended longer ago than this have no period left to watch.
LONGEST_WATCH = timedelta(days=120)


@dataclass(frozen=True, slots=True)
class Watch:
    """One subscription's period to evaluate."""

    subscription: Subscription
    period: Period


def watched_periods(
    subscription: Subscription, rules: RuleFile, now: datetime, grace: timedelta = GRACE
) -> list[Period]:
    """The subscription's periods that can still change at `now`, latest first."""
    if subscription.starts_at > now:
        return []
    billing = rules.billing
    ends_at = subscription.ends_at
    last = now if ends_at is None or ends_at > now else ends_at - timedelta(microseconds=1)
    period = clip(
        period_containing(last, billing.interval, billing.timezone),
        subscription.starts_at,
        ends_at,
    )
    watched = []
    while period.end + billing.close_after + grace > now:
        watched.append(period)
        if period.start <= subscription.starts_at:
            break
        earlier = period_containing(
            period.start - timedelta(microseconds=1), billing.interval, billing.timezone
        )
        period = clip(earlier, subscription.starts_at, ends_at)
    return watched


class RuleIndex:
    """The rules in force, found by the customer or the plan they watch."""

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        self.by_customer: dict[str, list[AlertRule]] = {}
        self.by_plan: dict[str, list[AlertRule]] = {}
        for rule in rules:
            if rule.customer_id is not None:
                self.by_customer.setdefault(rule.customer_id, []).append(rule)
            elif rule.plan_id is not None:
                self.by_plan.setdefault(rule.plan_id, []).append(rule)

    def of(self, subscription: Subscription) -> list[AlertRule]:
        return [
            *self.by_customer.get(subscription.customer_id, []),
            *self.by_plan.get(subscription.plan_id, []),
        ]


def watches(
    session: Session, rules: RuleIndex, now: datetime, vendor_id: str | None
) -> list[Watch]:
    """Every period of a subscription that a rule, its plan's maximum or unit limits, or its
    customer's spend limit watches."""
    statement = select(Subscription).where(
        sa.or_(
            col(Subscription.ends_at).is_(None),
            col(Subscription.ends_at) > now - LONGEST_WATCH,
        ),
        col(Subscription.starts_at) <= now,
    )
    if vendor_id is not None:
        statement = statement.where(Subscription.vendor_id == vendor_id)
    limited = set(
        session.exec(select(Customer.id).where(col(Customer.spend_limit_amount).is_not(None)))
    )
    found: list[Watch] = []
    for subscription in session.exec(statement.order_by(col(Subscription.id))).all():
        version_rules = rules_of(session, subscription.plan_version_id)
        has_limits = version_rules.maximum is not None or any(
            spec.limit is not None for spec in version_rules.outcomes.values()
        )
        if (
            not rules.of(subscription)
            and not has_limits
            and subscription.customer_id not in limited
        ):
            continue
        found.extend(
            Watch(subscription, period)
            for period in watched_periods(subscription, version_rules, now)
        )
    return found


def watch_groups(found: Sequence[Watch]) -> dict[tuple[str, Period], list[Watch]]:
    """Watches sharing a plan version and a period: rated together, like the close does."""
    groups: dict[tuple[str, Period], list[Watch]] = {}
    for watch in found:
        key = (watch.subscription.plan_version_id, watch.period)
        groups.setdefault(key, []).append(watch)
    return groups
