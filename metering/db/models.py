"""Every table model, imported in one place so the metadata is complete (Alembic, tests)."""

from __future__ import annotations

from sqlmodel import SQLModel

from metering.alerts.models import AlertFiring, AlertRule
from metering.customers.models import Customer
from metering.disputes.models import Dispute
from metering.events.models import EventVoid, StoredEvent
from metering.invoices.models import Invoice, InvoiceCounter, InvoiceLine, StalePeriod
from metering.jobs.models import apscheduler_jobs
from metering.outcomes.models import Outcome, OutcomeReversal
from metering.plans.models import Plan, PlanVersion
from metering.portal.models import PortalKey, PortalSession
from metering.stripe_sync.models import StripeEventSeen
from metering.subscriptions.models import Subscription
from metering.vendors.models import ApiKey, SigningSecret, Vendor
from metering.webhooks_out.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

metadata = SQLModel.metadata

__all__ = [
    "AlertFiring",
    "AlertRule",
    "ApiKey",
    "Customer",
    "Dispute",
    "EventVoid",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Outcome",
    "OutcomeReversal",
    "Plan",
    "PlanVersion",
    "PortalKey",
    "PortalSession",
    "SigningSecret",
    "StalePeriod",
    "StoredEvent",
    "StripeEventSeen",
    "Subscription",
    "Vendor",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "apscheduler_jobs",
    "metadata",
]
