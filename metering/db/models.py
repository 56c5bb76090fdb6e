"""Every table model, imported in one place so the metadata is complete (Alembic, tests)."""

from __future__ import annotations

from sqlmodel import SQLModel

from metering.customers.models import Customer
from metering.events.models import EventVoid, StoredEvent
from metering.outcomes.models import Outcome, OutcomeReversal
from metering.plans.models import Plan, PlanVersion
from metering.vendors.models import ApiKey, SigningSecret, Vendor

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "Customer",
    "EventVoid",
    "Outcome",
    "OutcomeReversal",
    "Plan",
    "PlanVersion",
    "SigningSecret",
    "StoredEvent",
    "Vendor",
    "metadata",
]
