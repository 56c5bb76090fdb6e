"""Per-customer price books: an override document makes a plan version of its own.

The override is checked against the version the customer is (or will next be) on, with the
same located errors as a rule file (`pricing_rules.overrides`). The version it makes keeps
the base's YAML and adds the override's (`PlanVersion.override_yaml`), so billing, the
portal and re-deriving read it as any version; a later override replaces the earlier one
over the same base, it does not stack. Functions add and flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.catalog.customers.models import Customer
from metering.catalog.overrides.models import CustomerOverride
from metering.catalog.overrides.schemas import OverrideOut
from metering.catalog.plans import repository as plans
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.platform.api import problems
from metering.platform.db.ids import new_id
from pricing_rules.loader import load_rules
from pricing_rules.overrides import apply_override


def base_version(session: Session, customer: Customer, now: datetime) -> PlanVersion:
    """The uploaded version an override of the customer applies to: that of its last
    subscription (a pending change's, else the one in force), without an earlier override."""
    subs = subscriptions.of_customer(session, customer.id)
    current = in_force(subs, now)
    pending = [sub for sub in subs if sub.starts_at > now]
    last = pending[-1] if pending else current
    if last is None:
        raise problems.NO_SUBSCRIPTION.error(
            f"Customer {customer.id} has no plan in force; subscribe it to a plan "
            "(POST /v1/customers/{id}/plan) before giving it prices of its own."
        )
    version = session.get(PlanVersion, last.plan_version_id)
    assert version is not None
    if version.base_version_id is not None:
        version = session.get(PlanVersion, version.base_version_id)
        assert version is not None
    return version


def make_version(session: Session, base: PlanVersion, text: str, filename: str) -> PlanVersion:
    """The version `text` makes over `base` (RuleFileError locates every mistake in it)."""
    merged = apply_override(text, load_rules(base.yaml, f"plan version {base.id}"), filename)
    version = PlanVersion(
        id=new_id("plv"),
        plan_id=base.plan_id,
        version=min(plans.lowest_number(session, base.plan_id), 0) - 1,
        yaml=base.yaml,
        parsed=merged.model_dump(mode="json"),
        base_version_id=base.id,
        override_yaml=text,
    )
    session.add(version)
    session.flush()
    return version


def record(
    session: Session,
    customer: Customer,
    text: str,
    base: PlanVersion,
    version: PlanVersion,
    effective: str,
    effective_from: datetime,
) -> CustomerOverride:
    """Store the override as its customer's next version."""
    latest = session.exec(
        select(func.max(CustomerOverride.version)).where(
            CustomerOverride.customer_id == customer.id
        )
    ).one()
    row = CustomerOverride(
        id=new_id("ovr"),
        vendor_id=customer.vendor_id,
        customer_id=customer.id,
        version=(latest or 0) + 1,
        document=text,
        base_version_id=base.id,
        plan_version_id=version.id,
        effective=effective,
        effective_from=effective_from,
    )
    session.add(row)
    session.flush()
    return row


def of_customer(customer: Customer) -> SelectOfScalar[CustomerOverride]:
    return select(CustomerOverride).where(CustomerOverride.customer_id == customer.id)


def override_or_404(session: Session, customer: Customer, number: int) -> CustomerOverride:
    statement = select(CustomerOverride).where(
        CustomerOverride.customer_id == customer.id, CustomerOverride.version == number
    )
    found = session.exec(statement).first()
    if found is None:
        raise problems.NOT_FOUND.error(f"Customer {customer.id} has no override {number}.")
    return found


def override_out(session: Session, row: CustomerOverride) -> OverrideOut:
    base = session.get(PlanVersion, row.base_version_id)
    made = session.get(PlanVersion, row.plan_version_id)
    assert base is not None and made is not None
    plan = session.get(Plan, base.plan_id)
    assert plan is not None
    return OverrideOut(
        id=row.id,
        customer_id=row.customer_id,
        version=row.version,
        document=row.document,
        effective=row.effective,
        effective_from=row.effective_from,
        plan=plan.slug,
        plan_version=base.version,
        plan_version_id=made.id,
        base=base.parsed,
        merged=made.parsed,
        created_at=row.created_at,
    )
