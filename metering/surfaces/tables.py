"""Every table model, imported in one place so the metadata is complete (Alembic, tests)."""

from __future__ import annotations

from sqlmodel import SQLModel

from metering.billing.credit_purchases.models import AutoTopUp
from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.billing.invoices.models import Invoice, InvoiceCounter, InvoiceLine
from metering.billing.payments.models import (
    CustomerPaymentLink,
    InvoiceLinePaymentLink,
    InvoicePayment,
    InvoicePaymentLink,
)
from metering.catalog.customers.models import Customer
from metering.catalog.overrides.models import CustomerOverride
from metering.catalog.plans.models import Plan, PlanVersion
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.vendors.models import ApiKey, SigningSecret, Vendor
from metering.ledger.disputes.models import Dispute
from metering.ledger.events.models import EventVoid, StoredEvent
from metering.ledger.outcomes.models import Outcome, OutcomeReversal, StalePeriod
from metering.ledger.tallies.models import OutcomeTally
from metering.notify.alerts.models import AlertFiring, AlertRule
from metering.notify.credit_notices.models import CreditNotice, CreditNoticeSettings
from metering.platform.api.idempotency import IdempotentRequest
from metering.platform.jobs.models import JobRun, apscheduler_jobs
from metering.platform.outbox.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from metering.providers.stripe.models import StripeEventSeen
from metering.surfaces.portal.models import PortalKey, PortalSession

metadata = SQLModel.metadata

__all__ = [
    "AlertFiring",
    "AlertRule",
    "ApiKey",
    "AutoTopUp",
    "CreditEntry",
    "CreditGrant",
    "CreditNotice",
    "CreditNoticeSettings",
    "Customer",
    "CustomerOverride",
    "CustomerPaymentLink",
    "Dispute",
    "EventVoid",
    "IdempotentRequest",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceLinePaymentLink",
    "InvoicePayment",
    "InvoicePaymentLink",
    "JobRun",
    "Outcome",
    "OutcomeReversal",
    "OutcomeTally",
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
