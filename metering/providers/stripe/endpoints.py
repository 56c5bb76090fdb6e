"""`POST /v1/stripe/webhook`: Stripe tells us an invoice was paid, failed, voided or finalized."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from metering.billing.payments import links, webhooks
from metering.billing.payments.protocol import (
    PaymentMethodAdded,
    PermanentSyncError,
    ProviderEvent,
    WebhookRejected,
)
from metering.billing.payments.provider_calls import ask
from metering.billing.payments.webhooks import WebhookOutcome
from metering.platform.api import problems
from metering.platform.api.body import read_body
from metering.platform.api.deps import app_settings
from metering.platform.api.openapi import STRIPE_SIGNATURE
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_engine
from metering.providers.stripe import webhook
from metering.providers.stripe.provider import StripeProvider
from metering.providers.stripe.webhook import apply_event

router = APIRouter(tags=["stripe"])


class WebhookReceipt(BaseModel):
    """What the delivery did; Stripe only needs the 2xx."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "received": True,
                    "event_id": "evt_1QabcXYZ",
                    "type": "invoice.paid",
                    "invoice_id": "inv_01jd3k2m8n4p6q8r0s2t4v6w8y",
                    "applied": True,
                    "duplicate": False,
                    "detail": "invoice paid",
                }
            ]
        }
    )

    received: bool = True
    event_id: str
    type: str
    invoice_id: str | None = Field(default=None, description="Our invoice, if the event names one.")
    applied: bool = Field(description="Whether our invoice changed.")
    duplicate: bool = Field(description="This event id was delivered and applied before.")
    detail: str


def _duplicate(event: ProviderEvent) -> WebhookOutcome:
    return WebhookOutcome(event.id, event.type, None, False, True, "already applied")


def store_payment_method(
    engine: sa.Engine, provider: StripeProvider, event: ProviderEvent, added: PaymentMethodAdded
) -> WebhookOutcome:
    """A customer of ours added a payment method in Stripe: it becomes the default for its
    invoices there (a Stripe call, made before our transaction: a failure is a 503 and Stripe
    delivers again), then its failed payments are tried again at once."""
    with Session(engine) as session:
        if webhook.seen(session, event):
            return _duplicate(event)
        customers = links.customers_at(session, webhook.PROVIDER, added.customer)
    if not customers:
        return WebhookOutcome(event.id, event.type, None, False, False, "not one of our customers")
    try:
        method = ask(provider, lambda: provider.use_payment_method(added))
    except PermanentSyncError as refused:
        return WebhookOutcome(event.id, event.type, None, False, False, str(refused))
    detail = f"default payment method set: {method.brand} ending {method.last4}"
    with Session(engine, expire_on_commit=False) as session:
        try:
            webhook.record(session, event)
            outcome = webhooks.apply_payment_method(session, event, customers, detail)
            session.commit()
        except sa.exc.IntegrityError:
            session.rollback()
            return _duplicate(event)
        return outcome


def store_event(engine: sa.Engine, event: ProviderEvent) -> WebhookOutcome:
    """Apply the event in its own transaction; a concurrent delivery of the same event
    loses on the `stripe_events` key and reports a duplicate."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            outcome = apply_event(session, event)
            session.commit()
        except sa.exc.IntegrityError:  # the same event applied meanwhile by another delivery
            session.rollback()
            return _duplicate(event)
        return outcome


@router.post(
    "/v1/stripe/webhook",
    summary="Stripe webhook",
    response_model=WebhookReceipt,
    responses=problem_responses(
        problems.STRIPE_SIGNATURE_INVALID,
        problems.STRIPE_NOT_CONFIGURED,
        problems.BODY_TOO_LARGE,
        problems.PROVIDER_UNAVAILABLE,
    ),
    openapi_extra=STRIPE_SIGNATURE,
    description="Signed by Stripe (`Stripe-Signature`, the endpoint secret in "
    "`METERING_STRIPE_WEBHOOK_SECRET`). `invoice.paid`, `invoice.payment_succeeded`, "
    "`invoice.payment_failed`, `invoice.voided` and `invoice.finalized` update our invoice; "
    "`checkout.session.completed` (setup mode) and `setup_intent.succeeded` make the payment "
    "method the customer added its default for invoices and try its failed payments again at "
    "once (a `503` when Stripe cannot be reached: Stripe delivers again); "
    "other events are acknowledged and ignored. Each event id is applied once; a paid or void "
    "invoice never changes again, so repeated and out-of-order deliveries are harmless. "
    "A bad signature is `400`; while the service has no Stripe webhook secret, `404`.",
)
async def stripe_webhook(request: Request) -> WebhookReceipt:
    settings = app_settings(request)
    if not settings.stripe_webhook_secret:
        raise problems.STRIPE_NOT_CONFIGURED.error(
            "Stripe webhooks are not configured (no METERING_STRIPE_WEBHOOK_SECRET)."
        )
    payload = await read_body(request, settings.max_body_bytes)
    provider = StripeProvider.from_settings(settings)
    try:
        event = provider.parse_webhook(payload, request.headers)
    except WebhookRejected as rejected:
        raise problems.STRIPE_SIGNATURE_INVALID.error(str(rejected)) from None
    if event.payment_method is not None:
        outcome = await run_in_threadpool(
            store_payment_method, get_engine(request), provider, event, event.payment_method
        )
    else:
        outcome = await run_in_threadpool(store_event, get_engine(request), event)
    return WebhookReceipt(
        event_id=outcome.event_id,
        type=outcome.type,
        invoice_id=outcome.invoice_id,
        applied=outcome.applied,
        duplicate=outcome.duplicate,
        detail=outcome.detail,
    )
