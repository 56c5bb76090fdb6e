"""Selling a paid grant: a one-off invoice through the customer's payment provider.

The invoice is an ordinary issued invoice of kind `credit_purchase` with one line: it is
numbered with the vendor's other invoices, its status moves only through `lifecycle`, and
its payment runs through the same sync and steps as a period's. It is dated at the instant
it is issued (`period_start` == `period_end`), which is never a whole minute, so it never
takes the (customer, period start) of a period's invoice. The grant it sells waits in
`pending_payment` until `lifecycle.mark_paid` hands the invoice to `activation` (or is
usable at once with `effective: on_issue`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from metering.billing.credits import service as grants
from metering.billing.credits.models import CreditGrant
from metering.billing.credits.schemas import GrantCreate
from metering.billing.invoices import lifecycle, repository
from metering.billing.invoices.models import InvoiceKind, LineKind
from metering.billing.invoices.rating import LineDraft
from metering.catalog.customers.models import CollectionMethod, Customer
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.platform.api import problems
from metering.platform.settings import Settings
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units

CHARGE_KEY = "credit_purchase"


def providers_of(settings: Settings) -> set[str]:
    """The payment providers this service collects through: manual always, Stripe with a key."""
    return {"manual", "stripe"} if settings.stripe_api_key is not None else {"manual"}


def refused(problem: problems.ProblemType, field: str, message: str) -> problems.ProblemError:
    return problem.error(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )


def check(customer: Customer, currency: str, price: Decimal, providers: Collection[str]) -> None:
    """Refuse a purchase, before anything is written, with a 422 naming the field: the
    customer's payment provider must be one this service collects through (`providers`),
    the price above zero in the currency's minor unit."""
    if customer.payment_provider not in providers:
        raise refused(
            problems.CREDIT_PURCHASE_UNAVAILABLE,
            "purchase",
            f"the customer's payment provider ({customer.payment_provider}) is not configured "
            "on this service, so nothing can collect the purchase invoice",
        )
    if not price.is_finite() or price <= 0:
        raise refused(problems.INVALID_CREDIT_GRANT, "purchase.price", "must be above zero")
    places = minor_units(currency)
    if price != price.quantize(Decimal(1).scaleb(-places)):
        raise refused(
            problems.INVALID_CREDIT_GRANT,
            "purchase.price",
            f"has more decimals than {currency.upper()} has ({places})",
        )


def purchase(
    session: Session,
    customer: Customer,
    data: GrantCreate,
    providers: Collection[str],
    now: datetime,
) -> CreditGrant:
    """A paid grant bought through its invoice, in the caller's transaction: the grant waits
    in `pending_payment` for the invoice to be paid, or is usable at once with
    `effective: on_issue`. Bad input raises before the caller commits, so nothing is kept."""
    assert data.purchase is not None
    grant = grants.create_pending(session, customer, data, now)
    price = Decimal(data.purchase.price)
    invoice_id = issue_invoice(
        session, customer, grant.currency, grant.amount, price, providers, now
    )
    grant.purchase_invoice_id = invoice_id
    session.add(grant)
    session.flush()
    if data.purchase.effective == "on_issue":
        return grants.activate(session, grant.id, now, invoice_id)
    return grant


def _instant(now: datetime) -> datetime:
    """`now`, off any whole minute (periods start on whole minutes)."""
    if now.second == 0 and now.microsecond == 0:
        return now + timedelta(microseconds=1)
    return now


def description(amount: Decimal, currency: str) -> str:
    return f"Prepaid credits: {money_text(amount, minor_units(currency))} {currency.upper()}"


def issue_invoice(
    session: Session,
    customer: Customer,
    currency: str,
    amount: Decimal,
    price: Decimal,
    providers: Collection[str],
    now: datetime,
) -> str:
    """Issue the one-line invoice selling `amount` of credits for `price` (checked first);
    its id. The caller's transaction holds it and the grant it sells."""
    check(customer, currency, price, providers)
    subscription = in_force(subscriptions.of_customer(session, customer.id), now)
    if subscription is None:
        raise problems.NO_SUBSCRIPTION.error(
            f"Customer '{customer.external_id}' has no plan in force, so no invoice can sell "
            "it credits."
        )
    at = _instant(now)
    due_at = None
    if customer.collection_method == CollectionMethod.SEND_INVOICE.value:
        due_at = at + timedelta(days=customer.days_until_due)
    row: dict[str, Any] = {
        "id": repository.new_invoice_id(),
        "vendor_id": customer.vendor_id,
        "customer_id": customer.id,
        "subscription_id": subscription.id,
        "plan_version_id": subscription.plan_version_id,
        "number": repository.reserve_numbers(session, customer.vendor_id, 1),
        "kind": InvoiceKind.CREDIT_PURCHASE.value,
        "currency": currency,
        "period_start": at,
        "period_end": at,
        "as_of": at,
        "total": price,
        "collection_method": customer.collection_method,
        "due_at": due_at,
        "created_at": at,
        "updated_at": at,
    }
    line = LineDraft(
        kind=LineKind.CREDIT_PURCHASE.value,
        charge_key=CHARGE_KEY,
        description=description(amount, currency),
        outcome=None,
        quantity=None,
        amount=price,
        period_start=at,
        period_end=at,
        detail={"credit_amount": str(amount)},
    )
    lifecycle.issue(session, [(row, [line])], at)
    return str(row["id"])
