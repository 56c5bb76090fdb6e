"""Subscribing customers to plan versions and changing them, one period boundary at a time.

A customer's subscriptions never overlap. A change ends the current subscription at the end
of its current period (or now, when asked) and starts the new one there; a change not yet
in force is replaced by the next one. When a change reaches into time that has events (an
immediate change, a first subscription starting in the past), the customer's outcomes from
the affected period on are derived again from its events. Functions flush; the caller
commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.api.problems import ProblemError, problem_type
from metering.customers.models import Customer
from metering.db.ids import new_id
from metering.db.types import utcnow
from metering.events.models import StoredEvent
from metering.outcomes.plans import rules_of, versions_by_id
from metering.outcomes.service import rederive_customer
from metering.plans import repository as plans
from metering.plans.models import Plan, PlanVersion
from metering.plans.service import plan_or_404, version_or_404
from metering.subscriptions import repository
from metering.subscriptions.models import Subscription
from metering.subscriptions.schemas import ApplyMode, Effective, SubscriptionOut
from metering.vendors.models import Vendor
from pricing_rules.periods import Period, clip, period_containing, period_from_label


@dataclass(frozen=True, slots=True)
class Change:
    """The result of a subscribe call: the subscription for the asked version, whether
    anything changed, and how many stored events were derived again."""

    subscription: Subscription
    changed: bool
    rederived: int = 0


def resolve_version(
    session: Session, vendor: Vendor, plan_ref: str, number: int | None
) -> tuple[Plan, PlanVersion]:
    """The plan and the version asked for (the latest when `number` is None)."""
    plan = plan_or_404(session, vendor, plan_ref)
    if number is None:
        version = plans.latest_version(session, plan.id)
        if version is None:
            raise ProblemError(
                409,
                "Plan Has No Version",
                f"Plan '{plan.slug}' has no version yet; upload a rule file first.",
                type=problem_type("plan-without-version"),
            )
        return plan, version
    return plan, version_or_404(session, plan, number)


def current_period(session: Session, subscription: Subscription, instant: datetime) -> Period:
    """The period of `subscription` containing `instant`, cut to the subscription's start."""
    ref = versions_by_id(session, [subscription.plan_version_id])[subscription.plan_version_id]
    return clip(ref.plan.period_of(instant), subscription.starts_at, None)


def _lock_customers(session: Session, customer_ids: Sequence[str]) -> None:
    """Serialise plan changes of these customers with each other and with ingestion batches
    of them (which hold FOR KEY SHARE): PostgreSQL row locks in id order; SQLite has one
    writer."""
    session.execute(
        sa.select(col(Customer.id))
        .where(col(Customer.id).in_(sorted(set(customer_ids))))
        .order_by(col(Customer.id))
        .with_for_update()
    )


def in_force(subs: Sequence[Subscription], now: datetime) -> Subscription | None:
    """The subscription of `subs` in force at `now`, if any."""
    for sub in subs:
        if sub.starts_at <= now and (sub.ends_at is None or now < sub.ends_at):
            return sub
    return None


def _new(customer: Customer, version: PlanVersion, starts_at: datetime) -> Subscription:
    return Subscription(
        id=new_id("sub"),
        vendor_id=customer.vendor_id,
        customer_id=customer.id,
        plan_id=version.plan_id,
        plan_version_id=version.id,
        starts_at=starts_at,
    )


def subscribe(
    session: Session,
    vendor: Vendor,
    customer: Customer,
    plan_ref: str,
    version: int | None = None,
    effective: Effective = Effective.NEXT_PERIOD,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> Change:
    """Put `customer` on a plan version: a first subscription, or a change of the current.

    The same version again changes nothing; asking for the current version while a change
    is pending cancels that change.
    """
    now = now or utcnow()
    _, target = resolve_version(session, vendor, plan_ref, version)
    _lock_customers(session, [customer.id])
    subs = repository.of_customer(session, customer.id)
    current = in_force(subs, now)
    pending = [sub for sub in subs if sub.starts_at > now]
    if current is None:
        return _first(session, customer, target, subs, pending, starts_at, now)
    if starts_at is not None:
        raise ProblemError(
            422,
            "Invalid Request",
            "starts_at: only a first subscription takes a start; this customer is "
            f"subscribed since {current.starts_at.isoformat()}, so send `effective` "
            "(next_period or immediately) to change its plan",
            type=problem_type("invalid-request"),
        )
    wanted_last = pending[-1] if pending else current
    if wanted_last.plan_version_id == target.id and (
        not pending or effective == Effective.NEXT_PERIOD
    ):
        return Change(wanted_last, changed=False)
    for sub in pending:
        session.delete(sub)
    session.flush()
    if current.plan_version_id == target.id:  # back to the current version: no change pending
        current.ends_at = None
        return _touched(session, customer, current, current_period(session, current, now).end, now)
    period = current_period(session, current, now)
    if effective == Effective.NEXT_PERIOD:
        current.ends_at = period.end
        current.updated_at = now
        session.add(current)
        new = _new(customer, target, period.end)
        session.add(new)
        return _touched(session, customer, new, period.end, now)
    if current.starts_at == now:  # nothing of it has run: put it on the new version instead
        current.plan_id, current.plan_version_id = target.plan_id, target.id
        new = current
    else:
        current.ends_at = now
        current.updated_at = now
        new = _new(customer, target, now)
    session.add(current)
    session.add(new)
    return _touched(session, customer, new, period.start, now)


def _first(
    session: Session,
    customer: Customer,
    target: PlanVersion,
    subs: Sequence[Subscription],
    pending: Sequence[Subscription],
    starts_at: datetime | None,
    now: datetime,
) -> Change:
    """A subscription with none in force: at `starts_at`, or the start of the plan's
    current period (never before the end of an earlier subscription)."""
    ended = [sub for sub in subs if sub not in pending]
    last_end = max((sub.ends_at for sub in ended if sub.ends_at is not None), default=None)
    if starts_at is None:
        billing = rules_of(session, target.id).billing
        start = period_containing(now, billing.interval, billing.timezone).start
        if last_end is not None:
            start = max(start, last_end)
    else:
        start = starts_at
        if last_end is not None and start < last_end:
            raise ProblemError(
                409,
                "Subscriptions Overlap",
                f"starts_at {start.isoformat()} is before the end of the customer's last "
                f"subscription ({last_end.isoformat()}); subscriptions never overlap.",
                type=problem_type("subscriptions-overlap"),
            )
    if (
        len(pending) == 1
        and pending[0].plan_version_id == target.id
        and (starts_at is None or pending[0].starts_at == start)
    ):
        return Change(pending[0], changed=False)
    for sub in pending:
        session.delete(sub)
    session.flush()
    new = _new(customer, target, start)
    session.add(new)
    since = min([start, *(sub.starts_at for sub in pending)])
    return _touched(session, customer, new, since, now)


def _touched(
    session: Session, customer: Customer, subscription: Subscription, since: datetime, now: datetime
) -> Change:
    """Store the change and derive the outcomes of events from `since` on again (outcome
    rows come from events, so a customer with no event since then costs one query)."""
    subscription.updated_at = now
    session.add(subscription)
    customer.updated_at = now
    session.add(customer)
    session.flush()
    if not _has_events_since(session, customer, since):
        return Change(subscription, changed=True)
    count = rederive_customer(session, customer, now, since)
    return Change(subscription, changed=True, rederived=count)


def _has_events_since(session: Session, customer: Customer, since: datetime) -> bool:
    statement = (
        select(StoredEvent.pk)
        .where(
            StoredEvent.vendor_id == customer.vendor_id,
            StoredEvent.customer_id == customer.id,
            col(StoredEvent.occurred_at) >= since,
        )
        .limit(1)
    )
    return session.exec(statement).first() is not None


def apply_version(
    session: Session,
    vendor: Vendor,
    version: PlanVersion,
    mode: ApplyMode,
    now: datetime | None = None,
) -> list[Change]:
    """Move the plan's subscribers on older versions to `version` (`none`: nobody).

    A subscriber is a customer whose last subscription (running or pending) is on this
    plan; a customer moved to another plan meanwhile is left alone.
    """
    if mode == ApplyMode.NONE:
        return []
    now = now or utcnow()
    older = (
        select(Subscription)
        .join(PlanVersion, col(PlanVersion.id) == col(Subscription.plan_version_id))
        .where(
            col(Subscription.plan_id) == version.plan_id,
            col(Subscription.ends_at).is_(None),
            col(PlanVersion.version) < version.version,
        )
        .order_by(col(Subscription.customer_id))
    )
    changes: list[Change] = []
    found = session.exec(older).all()
    if not found:
        return changes
    _lock_customers(session, [sub.customer_id for sub in found])
    relocked = older.execution_options(populate_existing=True)
    for sub in session.exec(relocked).all():  # read again after the locks
        customer = session.get(Customer, sub.customer_id)
        assert customer is not None
        changes.append(
            subscribe(
                session,
                vendor,
                customer,
                version.plan_id,
                version.version,
                Effective(mode.value),
                now=now,
            )
        )
    return changes


def describe(session: Session, subs: Sequence[Subscription]) -> list[SubscriptionOut]:
    """API views of subscriptions, with their plan slugs and version numbers."""
    version_ids = {sub.plan_version_id for sub in subs}
    versions = {}
    if version_ids:
        rows = session.exec(
            select(PlanVersion.id, PlanVersion.version, Plan.slug)
            .join(Plan, col(Plan.id) == col(PlanVersion.plan_id))
            .where(col(PlanVersion.id).in_(sorted(version_ids)))
        ).all()
        versions = {vid: (number, slug) for vid, number, slug in rows}
    return [
        SubscriptionOut(
            id=sub.id,
            plan_id=sub.plan_id,
            plan=versions[sub.plan_version_id][1],
            version=versions[sub.plan_version_id][0],
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
