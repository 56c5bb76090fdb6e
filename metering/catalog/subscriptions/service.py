"""Reading subscriptions: the one in force, its periods, the version a change asks for.

Changing them (which derives outcomes again) is `metering.ledger.plan_changes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans import repository as plans
from metering.catalog.plans.compiled import versions_by_id
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.plans.service import plan_or_404, version_or_404
from metering.catalog.subscriptions import repository
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.schemas import SubscriptionOut
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.db.ids import new_id
from pricing_rules.periods import Period, clip, period_from_label


def resolve_version(
    session: Session, vendor: Vendor, plan_ref: str, number: int | None
) -> tuple[Plan, PlanVersion]:
    """The plan and the version asked for (the latest when `number` is None)."""
    plan = plan_or_404(session, vendor, plan_ref)
    if number is None:
        version = plans.latest_version(session, plan.id)
        if version is None:
            raise problems.PLAN_WITHOUT_VERSION.error(
                f"Plan '{plan.slug}' has no version yet; upload a rule file first."
            )
        return plan, version
    return plan, version_or_404(session, plan, number)


def current_period(session: Session, subscription: Subscription, instant: datetime) -> Period:
    """The period of `subscription` containing `instant`, cut to the subscription's start."""
    ref = versions_by_id(session, [subscription.plan_version_id])[subscription.plan_version_id]
    return clip(ref.plan.period_of(instant), subscription.starts_at, None)


def in_force(subs: Sequence[Subscription], now: datetime) -> Subscription | None:
    """The subscription of `subs` in force at `now`, if any."""
    for sub in subs:
        if sub.starts_at <= now and (sub.ends_at is None or now < sub.ends_at):
            return sub
    return None


def new_subscription(customer: Customer, version: PlanVersion, starts_at: datetime) -> Subscription:
    return Subscription(
        id=new_id("sub"),
        vendor_id=customer.vendor_id,
        customer_id=customer.id,
        plan_id=version.plan_id,
        plan_version_id=version.id,
        starts_at=starts_at,
    )


def describe(session: Session, subs: Sequence[Subscription]) -> list[SubscriptionOut]:
    """API views of subscriptions, with their plan slugs and version numbers."""
    version_ids = {sub.plan_version_id for sub in subs}
    versions: dict[str, tuple[int, str, bool]] = {}
    if version_ids:
        base = aliased(PlanVersion)
        rows = session.exec(
            select(PlanVersion.id, PlanVersion.version, Plan.slug, base.version)
            .join(Plan, col(Plan.id) == col(PlanVersion.plan_id))
            .outerjoin(base, col(base.id) == col(PlanVersion.base_version_id))
            .where(col(PlanVersion.id).in_(sorted(version_ids)))
        ).all()
        versions = {
            vid: (number if base_number is None else base_number, slug, base_number is not None)
            for vid, number, slug, base_number in rows
        }
    return [
        SubscriptionOut(
            id=sub.id,
            plan_id=sub.plan_id,
            plan=versions[sub.plan_version_id][1],
            version=versions[sub.plan_version_id][0],
            overridden=versions[sub.plan_version_id][2],
            plan_version_id=sub.plan_version_id,
            starts_at=sub.starts_at,
            ends_at=sub.ends_at,
            billed_through=sub.billed_through,
            created_at=sub.created_at,
        )
        for sub in subs
    ]


def span_of_label(session: Session, customer_id: str, label: str) -> tuple[datetime, datetime]:
    """The instants [start, end) a period label covers for a customer, read in the interval
    and timezone of each of its subscriptions' plans; ValueError saying why if none fits."""
    subs = repository.of_customer(session, customer_id)
    if not subs:
        raise ValueError("the customer has no subscription, so it has no billing periods")
    plans = versions_by_id(session, {sub.plan_version_id for sub in subs})
    parts: list[Period] = []
    errors: set[str] = set()
    for sub in subs:
        billing = plans[sub.plan_version_id].plan.rules.billing
        try:
            period = period_from_label(label, billing.interval, billing.timezone)
        except ValueError as error:
            errors.add(str(error))
            continue
        if period.start < (sub.ends_at or period.end) and sub.starts_at < period.end:
            parts.append(clip(period, sub.starts_at, sub.ends_at))
    if not parts:
        if errors and len(errors) == len(subs):
            raise ValueError("; ".join(sorted(errors)))
        spans = ", ".join(
            f"{sub.starts_at.isoformat()} to {sub.ends_at.isoformat() if sub.ends_at else 'now'}"
            for sub in subs
        )
        raise ValueError(f"period {label} is outside the customer's subscriptions ({spans})")
    return min(part.start for part in parts), max(part.end for part in parts)


def current_and_pending(
    subs: Sequence[Subscription], now: datetime
) -> tuple[Subscription | None, Subscription | None]:
    """The subscription in force at `now` and the next one, if a change is pending."""
    current = in_force(subs, now)
    later = [sub for sub in subs if sub.starts_at > now]
    return current, (later[0] if later else None)
