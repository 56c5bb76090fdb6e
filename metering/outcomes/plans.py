"""Compiled plans, one per immutable plan version, compiled once per process."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from metering.plans.models import PlanVersion
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import CompiledPlan, compile_plan


@dataclass(frozen=True, slots=True)
class PlanRef:
    """The version an event is matched against, with its compiled rules."""

    version_id: str
    plan: CompiledPlan


_cache: dict[str, CompiledPlan] = {}
_lock = threading.Lock()


def compiled(version: PlanVersion) -> PlanRef:
    """The compiled rules of `version` (versions never change, so the cache never expires)."""
    plan = _cache.get(version.id)
    if plan is None:
        plan = compile_plan(load_rules(version.yaml, f"plan version {version.id}"))
        with _lock:
            _cache[version.id] = plan
    return PlanRef(version.id, plan)


def current_versions(session: Session, plan_ids: Iterable[str]) -> dict[str, PlanRef]:
    """Each plan's latest version (highest number), compiled, keyed by plan id."""
    wanted = sorted(set(plan_ids))
    if not wanted:
        return {}
    latest = (
        select(PlanVersion.plan_id, sa.func.max(PlanVersion.version).label("version"))
        .where(sa.column("plan_id").in_(wanted))
        .group_by(PlanVersion.plan_id)
        .subquery()
    )
    rows = session.exec(
        select(PlanVersion).join(
            latest,
            sa.and_(
                PlanVersion.plan_id == latest.c.plan_id,  # type: ignore[arg-type]
                PlanVersion.version == latest.c.version,  # type: ignore[arg-type]
            ),
        )
    ).all()
    return {row.plan_id: compiled(row) for row in rows}
