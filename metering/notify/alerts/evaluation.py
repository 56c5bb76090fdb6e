"""Evaluate alert rules and plan maximums on every period that can still change.

The periods watched are those of `metering.notify.alerts.watch`. Each is rated as of now (capped
at its close) with the close's own functions, batch by batch of customers sharing a plan
version and a period, and each rule whose threshold its figure has reached fires, exactly
once per (rule, customer, period): the firing row is inserted with ON CONFLICT DO NOTHING,
and only the insert that made the row enqueues `alert.triggered` in the same transaction.
Evaluating again, or in two workers at once, fires nothing new; the next period starts with
no firing, so it fires again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.ledger.outcomes.limits import customer_spend_limit
from metering.ledger.tallies import repository as tallies
from metering.notify.alerts import repository
from metering.notify.alerts.figures import PeriodFigures, period_figures
from metering.notify.alerts.limits import LimitCrossing, limit_crossings
from metering.notify.alerts.models import MAXIMUM_REACHED, AlertFiring, AlertKind, AlertRule
from metering.notify.alerts.watch import RuleIndex, Watch, watch_groups, watches
from metering.platform.db.types import utcnow
from metering.platform.outbox.models import EventType
from metering.platform.outbox.service import enqueue
from pricing_rules.engine import decimal_text, money_text
from pricing_rules.money import minor_units
from pricing_rules.periods import Period
from pricing_rules.rules import Maximum, RuleFile

BATCH_SIZE = 1000
FIRINGS: sa.Table = AlertFiring.__table__  # type: ignore[attr-defined]
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Crossing:
    """A threshold reached: by a rule, or by the plan's maximum (`rule` None)."""

    rule: AlertRule | None
    kind: str
    figure: Decimal
    threshold: Decimal

    @property
    def key(self) -> str:
        return self.rule.id if self.rule is not None else MAXIMUM_REACHED


@dataclass(frozen=True, slots=True)
class Fired:
    """What an evaluation fired (also the firing row's key)."""

    key: str
    kind: str
    customer_id: str
    period_start: datetime
    figure: Decimal
    threshold: Decimal


def rule_crossing(
    rule: AlertRule, figures: PeriodFigures, maximum: Maximum | None
) -> Crossing | None:
    """The rule's figure for the period, if it has reached the threshold."""
    threshold = rule.threshold
    if rule.kind == AlertKind.SPEND:
        figure, reached = figures.spend, figures.spend >= threshold
    elif rule.kind == AlertKind.OUTCOME_COUNT:
        count = Decimal(figures.outcome_count(rule.outcome))
        figure, reached = count, count >= threshold
    elif rule.kind == AlertKind.MAXIMUM_PERCENT and maximum is not None:
        # Compared exactly; the percent shown is rounded to hundredths.
        figure = (figures.charges * HUNDRED / maximum.amount).quantize(Decimal("0.01"))
        reached = figures.charges * HUNDRED >= threshold * maximum.amount
    else:  # a percent of a maximum the customer's plan does not have
        return None
    return Crossing(rule, rule.kind, figure, threshold) if reached else None


def crossings(
    rules: RuleFile, applicable: Iterable[AlertRule], figures: PeriodFigures
) -> list[Crossing]:
    """Every threshold `figures` has reached: the rules', then the plan maximum."""
    maximum = rules.maximum
    found = [
        crossing
        for rule in applicable
        if (crossing := rule_crossing(rule, figures, maximum)) is not None
    ]
    if maximum is not None and figures.charges >= maximum.amount:
        found.append(Crossing(None, MAXIMUM_REACHED, figures.charges, maximum.amount))
    return found


def _insert_firing(session: Session, values: dict[str, Any]) -> bool:
    """Insert the firing unless one exists for its (rule, customer, period); True if made."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(FIRINGS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["rule_key", "customer_id", "period_start"])
        .returning(FIRINGS.c.id)
    )
    return session.execute(statement).first() is not None


def _event_data(
    crossing: Crossing,
    rules: RuleFile,
    customer: Customer,
    period: Period,
) -> dict[str, Any]:
    """The `data` of `alert.triggered`."""
    rule = crossing.rule
    money = crossing.kind in (AlertKind.SPEND, MAXIMUM_REACHED)
    exponent = minor_units(rules.currency)
    alert: dict[str, Any] = {"id": None, "kind": crossing.kind, "name": None}
    if rule is not None:
        alert.update(
            id=rule.id,
            name=rule.name,
            customer=rule.customer_id,
            plan=rule.plan_id,
            outcome=rule.outcome,
        )
    elif rules.maximum is not None:
        alert["on_reach"] = rules.maximum.on_reach
    return {
        "alert": alert,
        "customer": {"id": customer.id, "external_id": customer.external_id},
        "period": {"start": period.start, "end": period.end},
        "figure": money_text(crossing.figure, exponent) if money else decimal_text(crossing.figure),
        "threshold": (
            money_text(crossing.threshold, exponent) if money else decimal_text(crossing.threshold)
        ),
        "currency": rules.currency,
    }


def _record(
    session: Session,
    customer: Customer,
    period: Period,
    key: str,
    rule_id: str | None,
    crossing: Crossing | LimitCrossing,
    now: datetime,
) -> bool:
    """The firing row of one crossing; False when it had fired already this period."""
    return _insert_firing(
        session,
        {
            "vendor_id": customer.vendor_id,
            "rule_key": key,
            "rule_id": rule_id,
            "kind": crossing.kind,
            "customer_id": customer.id,
            "period_start": period.start,
            "period_end": period.end,
            "figure": crossing.figure,
            "threshold": crossing.threshold,
            "fired_at": now,
        },
    )


def _fire(
    session: Session,
    watch: Watch,
    rules: RuleFile,
    customer: Customer,
    crossing: Crossing,
    now: datetime,
) -> Fired | None:
    period = watch.period
    rule_id = crossing.rule.id if crossing.rule is not None else None
    if not _record(session, customer, period, crossing.key, rule_id, crossing, now):
        return None
    data = _event_data(crossing, rules, customer, period)
    enqueue(session, customer.vendor_id, EventType.ALERT_TRIGGERED.value, data)
    return Fired(
        crossing.key, crossing.kind, customer.id, period.start, crossing.figure, crossing.threshold
    )


def evaluate(
    engine: Engine, now: datetime | None = None, vendor_id: str | None = None
) -> list[Fired]:
    """Fire what is crossed at `now` (of one vendor, or all); what fired in this run."""
    now = now or utcnow()
    with Session(engine) as session:
        rules = RuleIndex(session.exec(repository.rules(vendor_id)).all())
        groups = watch_groups(watches(session, rules, now, vendor_id))
    fired: list[Fired] = []
    for (version_id, period), members in groups.items():
        for start in range(0, len(members), BATCH_SIZE):
            batch = members[start : start + BATCH_SIZE]
            with Session(engine, expire_on_commit=False) as session:
                fired.extend(_evaluate_group(session, rules, version_id, period, batch, now))
                session.commit()
    return fired


def _evaluate_group(
    session: Session,
    rules: RuleIndex,
    version_id: str,
    period: Period,
    members: Sequence[Watch],
    now: datetime,
) -> list[Fired]:
    version_rules = rules_of(session, version_id)
    as_of = min(now, period.end + version_rules.billing.close_after)
    ids = [watch.subscription.customer_id for watch in members]
    figures = period_figures(session, version_rules, ids, period, as_of)
    customers = {
        c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(ids))).all()
    }
    per_customer: dict[str, dict[str, tallies.PeriodTally]] = {}
    for (customer_id, name), tally in tallies.period_tallies(
        session, ids, period.start, now
    ).items():
        per_customer.setdefault(customer_id, {})[name] = tally
    fired = []
    for watch in members:
        customer = customers[watch.subscription.customer_id]
        for crossing in crossings(
            version_rules, rules.of(watch.subscription), figures[customer.id]
        ):
            made = _fire(session, watch, version_rules, customer, crossing, now)
            if made is not None:
                fired.append(made)
        limit = customer_spend_limit(customer)
        for reached in limit_crossings(version_rules, limit, per_customer.get(customer.id, {})):
            made = _fire_limit(session, watch, version_rules, customer, reached, now)
            if made is not None:
                fired.append(made)
    return fired


def _fire_limit(
    session: Session,
    watch: Watch,
    rules: RuleFile,
    customer: Customer,
    crossing: LimitCrossing,
    now: datetime,
) -> Fired | None:
    """Fire `limit.warning` or `limit.reached` once per (limit, customer, period)."""
    period = watch.period
    if not _record(session, customer, period, crossing.name, None, crossing, now):
        return None
    exponent = minor_units(rules.currency)
    money = crossing.outcome is None

    def shown(value: Decimal) -> str:
        return money_text(value, exponent) if money else decimal_text(value)

    data = {
        "limit": {
            "kind": crossing.kind,
            "outcome": crossing.outcome,
            "on_reach": crossing.on_reach,
            "limit": shown(crossing.limit),
        },
        "customer": {"id": customer.id, "external_id": customer.external_id},
        "period": {"start": period.start, "end": period.end},
        "figure": shown(crossing.figure),
        "threshold": shown(crossing.threshold),
        "currency": rules.currency,
    }
    enqueue(session, customer.vendor_id, crossing.event.value, data)
    return Fired(
        crossing.name, crossing.kind, customer.id, period.start, crossing.figure, crossing.threshold
    )
