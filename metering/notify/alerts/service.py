"""Alert rules: create (checked against the customer or plan they watch), read, delete.

Functions add and flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from metering.catalog.customers import service as customers
from metering.catalog.plans import repository as plans_repository
from metering.catalog.plans import service as plans
from metering.catalog.plans.compiled import rules_of
from metering.catalog.vendors.models import Vendor
from metering.notify.alerts import repository
from metering.notify.alerts.models import AlertFiring, AlertKind, AlertRule
from metering.notify.alerts.schemas import AlertCreate, AlertOut, FiringOut
from metering.platform.api import problems
from metering.platform.api.problems import not_found
from metering.platform.db.ids import new_id
from metering.platform.db.types import utcnow
from pricing_rules.engine import decimal_text


def _check_against_plan(session: Session, plan_id: str, slug: str, data: AlertCreate) -> None:
    """An outcome the plan's latest version does not define, or a percent of a maximum it
    does not have, could never fire: refuse it now rather than stay silent later."""
    version = plans_repository.latest_version(session, plan_id)
    if version is None:
        return
    rules = rules_of(session, version.id)
    if data.outcome is not None and data.outcome not in rules.outcomes:
        known = ", ".join(sorted(rules.outcomes)) or "none"
        raise problems.INVALID_ALERT.error(
            f"Plan '{slug}' has no outcome '{data.outcome}' (its outcomes: {known})."
        )
    if data.kind == AlertKind.MAXIMUM_PERCENT and rules.maximum is None:
        raise problems.INVALID_ALERT.error(
            f"Plan '{slug}' has no maximum, so maximum_percent cannot be measured."
        )


def create(session: Session, vendor: Vendor, data: AlertCreate) -> AlertRule:
    rule = AlertRule(
        id=new_id("alr"),
        vendor_id=vendor.id,
        kind=data.kind.value,
        threshold=data.threshold,
        outcome=data.outcome,
        name=data.name,
    )
    if data.customer is not None:
        rule.customer_id = customers.get_or_404(session, vendor, data.customer).id
    else:
        assert data.plan is not None
        plan = plans.plan_or_404(session, vendor, data.plan)
        _check_against_plan(session, plan.id, plan.slug, data)
        rule.plan_id = plan.id
    session.add(rule)
    session.flush()
    return rule


def rule_or_404(session: Session, vendor: Vendor, rule_id: str) -> AlertRule:
    rule = repository.get_rule(session, vendor.id, rule_id)
    if rule is None:
        raise not_found("alert", rule_id)
    return rule


def delete(session: Session, rule: AlertRule, now: datetime | None = None) -> None:
    """The rule stops being evaluated; it is kept for the firings that name it."""
    rule.deleted_at = now or utcnow()
    session.add(rule)
    session.flush()


def alert_out(rule: AlertRule) -> AlertOut:
    return AlertOut(
        id=rule.id,
        kind=rule.kind,
        threshold=decimal_text(rule.threshold),
        customer_id=rule.customer_id,
        plan_id=rule.plan_id,
        outcome=rule.outcome,
        name=rule.name,
        created_at=rule.created_at,
    )


def firing_out(firing: AlertFiring) -> FiringOut:
    assert firing.id is not None
    return FiringOut(
        id=firing.id,
        rule_id=firing.rule_id,
        kind=firing.kind,
        customer_id=firing.customer_id,
        period_start=firing.period_start,
        period_end=firing.period_end,
        figure=decimal_text(firing.figure),
        threshold=decimal_text(firing.threshold),
        fired_at=firing.fired_at,
    )
