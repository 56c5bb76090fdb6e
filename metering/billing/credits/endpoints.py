"""`/v1/customers/{id}/credit_grants`, `/v1/credit_grants/{id}`, the customer's credit
ledger and balance."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query
from sqlmodel import Session, col

from metering.billing.credit_purchases import service as purchases
from metering.billing.credits import repository, service
from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.billing.credits.schemas import (
    AdjustmentCreate,
    BalanceOut,
    EntryOut,
    GrantCreate,
    GrantOut,
    GrantVoid,
)
from metering.catalog.customers import service as customers
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.deps import app_settings
from metering.platform.api.idempotency import IdempotencyKey, once
from metering.platform.api.pagination import Cursor, Limit, Page, paginate
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings

router = APIRouter(tags=["credits"], responses=problem_responses(*API_KEY_PROBLEMS))


@router.post(
    "/v1/customers/{customer_id}/credit_grants",
    response_model=GrantOut,
    status_code=201,
    summary="Grant prepaid credits",
    responses=problem_responses(
        problems.NOT_FOUND,
        problems.INVALID_CREDIT_GRANT,
        problems.CREDIT_PURCHASE_UNAVAILABLE,
        problems.NO_SUBSCRIPTION,
        problems.IDEMPOTENCY_KEY_REUSED,
        problems.INVALID_REQUEST,
    ),
)
def create_grant(
    customer_id: str,
    data: GrantCreate,
    idempotency_key: IdempotencyKey,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> GrantOut:
    """The customer's invoices draw from it at each close (lower `priority` first, then
    earliest expiry, then oldest), for periods overlapping its validity, never below zero.
    With `purchase`, a one-line invoice (kind `credit_purchase`) sells it through the
    customer's payment provider, and it is usable once that invoice is paid (`on_payment`)
    or at once (`on_issue`); `purchase_invoice_id` names the invoice. A repeat with the same
    `Idempotency-Key` and body returns the grant the first request made."""
    customer = customers.get_or_404(session, vendor, customer_id)

    def make() -> str:
        if data.purchase is not None:
            providers = purchases.providers_of(settings)
            return purchases.purchase(session, customer, data, providers, utcnow()).id
        return service.create(session, customer, data, utcnow()).id

    route = f"/v1/customers/{customer.id}/credit_grants"
    grant_id = once(session, vendor.id, route, idempotency_key, data, make)
    return service.grant_out(service.get_or_404(session, vendor, grant_id))


@router.get(
    "/v1/customers/{customer_id}/credit_grants",
    response_model=Page[GrantOut],
    summary="List a customer's credit grants",
    responses=problem_responses(problems.NOT_FOUND, problems.INVALID_CURSOR),
)
def list_grants(
    customer_id: str,
    cursor: Cursor = None,
    limit: Limit = 100,
    status: str | None = Query(None, description="pending_payment | active | voided"),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[GrantOut]:
    """Oldest first."""
    customer = customers.get_or_404(session, vendor, customer_id)
    statement = repository.grants_of(customer.id, status)
    rows, next_cursor = paginate(session, statement, col(CreditGrant.id), cursor, limit)
    return Page[GrantOut](data=[service.grant_out(g) for g in rows], next_cursor=next_cursor)


@router.get(
    "/v1/credit_grants/{grant_id}",
    response_model=GrantOut,
    summary="Get a credit grant",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_grant(
    grant_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> GrantOut:
    return service.grant_out(service.get_or_404(session, vendor, grant_id))


@router.post(
    "/v1/credit_grants/{grant_id}/void",
    response_model=GrantOut,
    summary="Void a credit grant",
    responses=problem_responses(problems.NOT_FOUND, problems.CREDIT_GRANT_VOIDED),
)
def void_grant(
    grant_id: str,
    data: GrantVoid | None = Body(None),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> GrantOut:
    """Its unused remainder is voided (a `void` ledger entry); what was drawn stays drawn."""
    grant = service.get_or_404(session, vendor, grant_id)
    voided = service.void(session, grant, utcnow(), data.reason if data else None)
    session.commit()
    return service.grant_out(voided)


@router.post(
    "/v1/credit_grants/{grant_id}/adjustments",
    response_model=GrantOut,
    summary="Adjust a credit grant's balance",
    responses=problem_responses(
        problems.NOT_FOUND,
        problems.CREDIT_GRANT_VOIDED,
        problems.INVALID_CREDIT_ADJUSTMENT,
        problems.IDEMPOTENCY_KEY_REUSED,
        problems.INVALID_REQUEST,
    ),
)
def adjust_grant(
    grant_id: str,
    data: AdjustmentCreate,
    idempotency_key: IdempotencyKey,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> GrantOut:
    """A `manual_adjustment` ledger entry with its reason; the balance never goes below 0.
    A repeat with the same `Idempotency-Key` and body adjusts nothing more."""
    grant = service.get_or_404(session, vendor, grant_id)
    route = f"/v1/credit_grants/{grant.id}/adjustments"
    once(
        session,
        vendor.id,
        route,
        idempotency_key,
        data,
        lambda: service.adjust(session, grant, data, utcnow()).id,
    )
    return service.grant_out(service.get_or_404(session, vendor, grant.id))


@router.get(
    "/v1/customers/{customer_id}/credit_ledger",
    response_model=Page[EntryOut],
    summary="List a customer's credit ledger",
    responses=problem_responses(problems.NOT_FOUND, problems.INVALID_CURSOR),
)
def list_ledger(
    customer_id: str,
    cursor: Cursor = None,
    limit: Limit = 100,
    grant: str | None = Query(None, description="Only this grant's entries (crg_...)."),
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> Page[EntryOut]:
    """Every change of a balance, oldest first: grant, drawdown, expiry, void, restore,
    manual_adjustment."""
    customer = customers.get_or_404(session, vendor, customer_id)
    statement = repository.entries_of(customer.id, grant)
    rows, next_cursor = paginate(session, statement, col(CreditEntry.id), cursor, limit)
    return Page[EntryOut](data=service.entries_out(rows), next_cursor=next_cursor)


@router.get(
    "/v1/customers/{customer_id}/credit_balance",
    response_model=BalanceOut,
    summary="Get a customer's credit balance",
    responses=problem_responses(problems.NOT_FOUND),
)
def get_balance(
    customer_id: str,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> BalanceOut:
    """Per currency: available now, what the open period would draw if it closed now,
    what is left after it, and the grants expiring in the next 30 days."""
    customer = customers.get_or_404(session, vendor, customer_id)
    return service.balance_of(session, customer, utcnow())
