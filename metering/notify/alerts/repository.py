"""Queries of alert rules and firings, always scoped to one vendor."""

from __future__ import annotations

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.notify.alerts.models import AlertFiring, AlertRule


def get_rule(session: Session, vendor_id: str, rule_id: str) -> AlertRule | None:
    rule = session.get(AlertRule, rule_id)
    if rule is None or rule.vendor_id != vendor_id or rule.deleted_at is not None:
        return None
    return rule


def rules(vendor_id: str | None = None) -> SelectOfScalar[AlertRule]:
    """Rules in force (not deleted), of one vendor or of all."""
    statement = select(AlertRule).where(col(AlertRule.deleted_at).is_(None))
    if vendor_id is not None:
        statement = statement.where(AlertRule.vendor_id == vendor_id)
    return statement


def firings(
    vendor_id: str, rule_id: str | None = None, customer_id: str | None = None
) -> SelectOfScalar[AlertFiring]:
    statement = select(AlertFiring).where(AlertFiring.vendor_id == vendor_id)
    if rule_id is not None:
        statement = statement.where(AlertFiring.rule_id == rule_id)
    if customer_id is not None:
        statement = statement.where(AlertFiring.customer_id == customer_id)
    return statement
