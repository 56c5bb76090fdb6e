"""Queries of plans and versions, always scoped to one vendor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.catalog.plans.models import Plan, PlanVersion

PLAN_ID_PREFIX = "pln_"


def by_ref(session: Session, vendor_id: str, ref: str) -> Plan | None:
    """The vendor's plan with id or slug `ref`."""
    if ref.startswith(PLAN_ID_PREFIX):
        plan = session.get(Plan, ref)
        return plan if plan is not None and plan.vendor_id == vendor_id else None
    return by_slug(session, vendor_id, ref)


def by_slug(session: Session, vendor_id: str, slug: str) -> Plan | None:
    statement = select(Plan).where(Plan.vendor_id == vendor_id, Plan.slug == slug)
    return session.exec(statement).first()


def uploaded() -> Any:
    """Versions uploaded as rule files, not those a customer's override made."""
    return col(PlanVersion.base_version_id).is_(None)


def version(session: Session, plan_id: str, number: int) -> PlanVersion | None:
    statement = select(PlanVersion).where(
        PlanVersion.plan_id == plan_id, PlanVersion.version == number, uploaded()
    )
    return session.exec(statement).first()


def latest_version(session: Session, plan_id: str) -> PlanVersion | None:
    statement = (
        select(PlanVersion)
        .where(PlanVersion.plan_id == plan_id, uploaded())
        .order_by(col(PlanVersion.version).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def latest_numbers(session: Session, plan_ids: Iterable[str]) -> dict[str, int]:
    """The highest version number of each plan in `plan_ids` (one query for a page)."""
    ids = list(plan_ids)
    if not ids:
        return {}
    statement = (
        select(PlanVersion.plan_id, func.max(PlanVersion.version))
        .where(col(PlanVersion.plan_id).in_(ids), uploaded())
        .group_by(col(PlanVersion.plan_id))
    )
    return {plan_id: number for plan_id, number in session.exec(statement).all()}


def plans_of(vendor_id: str) -> SelectOfScalar[Plan]:
    return select(Plan).where(Plan.vendor_id == vendor_id)


def versions_of(plan_id: str) -> SelectOfScalar[PlanVersion]:
    return select(PlanVersion).where(PlanVersion.plan_id == plan_id, uploaded())


def lowest_number(session: Session, plan_id: str) -> int:
    """The lowest version number of the plan (an override's version takes the next below)."""
    statement = select(func.min(PlanVersion.version)).where(PlanVersion.plan_id == plan_id)
    return session.exec(statement).one() or 0
