"""Uploading rule files: each upload is a new immutable plan version.

The YAML is validated by the pure core's loader, so the API reports exactly the errors
`metering rules check` prints. A version number, once stored, is never changed: the same
text again is a no-op, different text under that number is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from metering.catalog.plans import repository
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError, not_found
from metering.platform.db.ids import new_id
from pricing_rules.loader import load_rules


@dataclass(frozen=True)
class Upload:
    plan: Plan
    version: PlanVersion
    created: bool


def _conflict(plan: Plan, number: int) -> ProblemError:
    return problems.PLAN_VERSION_EXISTS.error(
        f"Version {number} of plan '{plan.slug}' already exists with different YAML; versions "
        f"are immutable, so upload the change as a new version number."
    )


def _plan_for(session: Session, vendor: Vendor, slug: str) -> Plan:
    plan = repository.by_slug(session, vendor.id, slug)
    if plan is not None:
        return plan
    try:
        with session.begin_nested():
            plan = Plan(id=new_id("pln"), vendor_id=vendor.id, slug=slug)
            session.add(plan)
    except IntegrityError:  # created concurrently by another upload
        plan = repository.by_slug(session, vendor.id, slug)
        assert plan is not None
    return plan


def _existing(session: Session, plan: Plan, number: int, text: str) -> Upload | None:
    stored = repository.version(session, plan.id, number)
    if stored is None:
        return None
    if stored.yaml != text:
        raise _conflict(plan, number)
    return Upload(plan=plan, version=stored, created=False)


def upload(session: Session, vendor: Vendor, text: str, filename: str) -> Upload:
    """Store `text` as a new version of the plan it names (RuleFileError if invalid)."""
    rules = load_rules(text, filename)
    plan = _plan_for(session, vendor, rules.plan)
    existing = _existing(session, plan, rules.version, text)
    if existing is not None:
        return existing
    version = PlanVersion(
        id=new_id("plv"),
        plan_id=plan.id,
        version=rules.version,
        yaml=text,
        parsed=rules.model_dump(mode="json"),
    )
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:  # the same number stored concurrently
        existing = _existing(session, plan, rules.version, text)
        assert existing is not None
        return existing
    return Upload(plan=plan, version=version, created=True)


def plan_or_404(session: Session, vendor: Vendor, ref: str) -> Plan:
    plan = repository.by_ref(session, vendor.id, ref)
    if plan is None:
        raise not_found("plan", ref)
    return plan


def version_or_404(session: Session, plan: Plan, number: int) -> PlanVersion:
    version = repository.version(session, plan.id, number)
    if version is None:
        raise problems.NOT_FOUND.error(f"No version {number} of plan '{plan.slug}'.")
    return version
