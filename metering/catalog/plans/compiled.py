"""Compiled plans, one per immutable plan version, compiled once per process."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from metering.catalog.plans.models import PlanVersion
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import CompiledPlan, compile_plan
from pricing_rules.overrides import apply_override
from pricing_rules.rules import RuleFile

EXCLUSIVE_LOCK = "*exclusive"
"""The lock name shared by a plan's exclusive outcomes (no outcome can be named so): their
keys of one subject resolve together, so their writers take turns as one outcome's."""


@dataclass(frozen=True, slots=True)
class PlanRef:
    """The version an event is matched against, with its compiled rules."""

    version_id: str
    plan: CompiledPlan
    key_locked: frozenset[str]
    overridden: bool = False
    """The version a customer's override made over an uploaded one (its base)."""

    def lock_name(self, outcome: str) -> str:
        """The name writers of `outcome` lock (with the customer, and maybe the key)."""
        return EXCLUSIVE_LOCK if outcome in self.plan.exclusive_order else outcome


def key_locked_outcomes(plan: CompiledPlan) -> frozenset[str]:
    """Outcomes whose writers can lock one dedupe key instead of the whole outcome.

    That is safe when a claim (a reversal, rejection or confirmation) names exactly one
    dedupe key: no claim at all, or claims matched on the same path as the dedupe key
    (match key == dedupe key). Exclusive outcomes share their locks, so they are locked by
    key only when all of them can be.
    """
    names = set()
    for name, spec in plan.rules.outcomes.items():
        settle = spec.settle
        paths = {
            c.match for c in (settle.reversed_by, settle.rejected_by, settle.confirmed_by) if c
        }
        dedupe = plan.dedupe_path(name)
        if not paths or (dedupe and paths == {dedupe}):
            names.add(name)
    exclusive = set(plan.exclusive_order)
    if not exclusive <= names:
        names -= exclusive
    return frozenset(names)


_cache: dict[str, PlanRef] = {}
_lock = threading.Lock()


def compiled(version: PlanVersion) -> PlanRef:
    """The compiled rules of `version` (versions never change, so the cache never expires)."""
    ref = _cache.get(version.id)
    if ref is None:
        plan = compile_plan(effective_rules(version))
        ref = PlanRef(version.id, plan, key_locked_outcomes(plan), version.overridden)
        with _lock:
            _cache[version.id] = ref
    return ref


def effective_rules(version: PlanVersion) -> RuleFile:
    """The version's rules: its YAML, with the customer's override applied when it has one."""
    rules = load_rules(version.yaml, f"plan version {version.id}")
    if version.override_yaml is None:
        return rules
    return apply_override(version.override_yaml, rules, f"override of {version.id}")


def versions_by_id(session: Session, version_ids: Iterable[str]) -> dict[str, PlanRef]:
    """These versions compiled, keyed by version id; only uncompiled ones are read."""
    wanted = set(version_ids)
    found = {vid: ref for vid in wanted if (ref := _cache.get(vid)) is not None}
    missing = sorted(wanted - found.keys())
    if missing:
        rows = session.exec(select(PlanVersion).where(sa.column("id").in_(missing))).all()
        found.update({row.id: compiled(row) for row in rows})
    return found


def rules_of(session: Session, version_id: str) -> RuleFile:
    """The rules of one plan version (read from the database only the first time)."""
    found = versions_by_id(session, [version_id])
    if version_id not in found:
        raise LookupError(f"no plan version {version_id}")
    return found[version_id].plan.rules
