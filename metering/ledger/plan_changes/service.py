"""Subscribing customers to plan versions and changing them, one period boundary at a time.

A customer's subscriptions never overlap. A change ends the current subscription at the end
of its current period (or now, or at an override's `effective_from`: all through `switch_at`)
and starts the new one there; a change not yet in force is replaced by the next one. When a
change reaches into time that has events (an immediate change, a back-dated override, a
first subscription starting in the past), the customer's outcomes from
the affected period on are derived again from its events, in the same transaction. This is
why plan changes belong to the ledger: the subscription rows are the catalog's, the outcome
rows derived from them are ours. Functions flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.overrides import service as overrides
from metering.catalog.overrides.models import CustomerOverride
from metering.catalog.plans.compiled import rules_of
from metering.catalog.plans.models import PlanVersion
from metering.catalog.plans.repository import uploaded
from metering.catalog.subscriptions import repository
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.schemas import ApplyMode, Effective
from metering.catalog.subscriptions.service import (
    current_period,
    in_force,
    new_subscription,
    resolve_version,
)
from metering.catalog.vendors.models import Vendor
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.service import rederive_customer
from metering.platform.api import problems
from metering.platform.api.inputs import Fault, invalid_fields
from metering.platform.db.types import utcnow
from pricing_rules.periods import period_containing

AT_INSTANT = "at"
"""An override's `effective` when it was given an `effective_from` instant."""


@dataclass(frozen=True, slots=True)
class Change:
    """The result of a subscribe call: the subscription for the asked version, whether
    anything changed, and how many stored events were derived again."""

    subscription: Subscription
    changed: bool
    rederived: int = 0


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
    return change_to(session, customer, target, effective, starts_at, now)


def change_to(
    session: Session,
    customer: Customer,
    target: PlanVersion,
    effective: Effective,
    starts_at: datetime | None,
    now: datetime,
) -> Change:
    """`subscribe` to a version already found (an uploaded one, or an override's)."""
    _lock_customers(session, [customer.id])
    subs = repository.of_customer(session, customer.id)
    current = in_force(subs, now)
    pending = [sub for sub in subs if sub.starts_at > now]
    if current is None:
        return _first(session, customer, target, subs, pending, starts_at, now)
    if starts_at is not None:
        raise problems.INVALID_REQUEST.error(
            "starts_at: only a first subscription takes a start; this customer is "
            f"subscribed since {current.starts_at.isoformat()}, so send `effective` "
            "(next_period or immediately) to change its plan"
        )
    wanted_last = pending[-1] if pending else current
    if wanted_last.plan_version_id == target.id and (
        not pending or effective == Effective.NEXT_PERIOD
    ):
        return Change(wanted_last, changed=False)
    if current.plan_version_id == target.id:  # back to the current version: no change pending
        for sub in pending:
            session.delete(sub)
        session.flush()
        current.ends_at = None
        return _touched(session, customer, current, current_period(session, current, now).end, now)
    at = current_period(session, current, now).end if effective == Effective.NEXT_PERIOD else now
    return switch_at(session, customer, target, at, now)


def switch_at(
    session: Session, customer: Customer, target: PlanVersion, at: datetime, now: datetime
) -> Change:
    """Put the customer on `target` from the instant `at`: in the future, the switch waits
    (changes not yet in force from `at` on are replaced); in the past, the period containing
    `at` is split there and its events derived again. `at` may not reach before the
    subscription in force now, nor into a period already invoiced (a 422 naming
    `effective_from`, the field that asks for it)."""
    subs = repository.of_customer(session, customer.id)
    later = [sub for sub in subs if sub.starts_at > now and sub.starts_at >= at]
    kept = [sub for sub in subs if sub not in later and sub.starts_at <= at]
    host = max(kept, key=lambda sub: sub.starts_at, default=None)
    if host is None:
        raise _refused(at, "is before the customer's first subscription starts")
    if host.ends_at is not None and host.ends_at <= now:
        current = in_force(subs, now)
        started = f" ({current.starts_at.isoformat()})" if current else ""
        raise _refused(at, f"is before the start of the customer's current subscription{started}")
    # A close running now may be invoicing the period `at` falls in: wait for it, read what
    # it billed, and keep the next close from claiming the row until this change commits.
    session.refresh(host, with_for_update=True)
    if host.billed_through is not None and at < host.billed_through:
        raise _refused(
            at,
            f"is in a period already invoiced (through {host.billed_through.isoformat()}); "
            "prices of an invoiced period do not change",
        )
    since = at if at > now else current_period(session, host, at).start
    for sub in later:
        session.delete(sub)
    session.flush()
    if host.starts_at == at:  # nothing of it may stay: put it on the new version instead
        host.plan_id, host.plan_version_id = target.plan_id, target.id
        host.ends_at = None
        new = host
    else:
        host.ends_at = at
        host.updated_at = now
        new = new_subscription(customer, target, at)
    session.add(host)
    session.add(new)
    return _touched(session, customer, new, since, now)


def _refused(at: datetime, reason: str) -> Exception:
    return invalid_fields([Fault("query parameter effective_from", f"{at.isoformat()} {reason}")])


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
            raise problems.SUBSCRIPTIONS_OVERLAP.error(
                f"starts_at {start.isoformat()} is before the end of the customer's last "
                f"subscription ({last_end.isoformat()}); subscriptions never overlap."
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
    new = new_subscription(customer, target, start)
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
            uploaded(),  # a customer with its own price book keeps it
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


def give_override(
    session: Session,
    customer: Customer,
    text: str,
    filename: str,
    when: Effective | datetime,
    now: datetime | None = None,
) -> CustomerOverride:
    """Put the customer on its own prices: the version `text` makes over the plan version it
    is on, from the end of its current period, now, or an instant `when` (before now: the
    period containing it is split there, its events derived again), as any plan change.
    RuleFileError locates every mistake of `text`."""
    now = now or utcnow()
    _lock_customers(session, [customer.id])
    base = overrides.base_version(session, customer, now)
    version = overrides.make_version(session, base, text, filename)
    if isinstance(when, Effective):
        change = change_to(session, customer, version, when, None, now)
        asked = when.value
    else:
        change = switch_at(session, customer, version, when.astimezone(UTC), now)
        asked = AT_INSTANT
    starts = change.subscription.starts_at
    return overrides.record(session, customer, text, base, version, asked, starts)
