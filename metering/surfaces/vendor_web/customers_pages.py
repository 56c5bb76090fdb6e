"""`/vendor/customers`: the vendor's customers, 50 a page, with plan, upcoming total, credits
and payment status; a customer's page (subscriptions, invoices, open disputes, limits, alert
rules); and
the button that makes a portal link through the same service as `POST /v1/portal_sessions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from metering.billing.allowance import limits_service
from metering.billing.invoices import repository as invoices
from metering.billing.invoices import service as invoice_service
from metering.billing.invoices.models import Invoice
from metering.catalog.customers import repository as customers
from metering.catalog.customers import service as customer_service
from metering.catalog.customers.models import Customer
from metering.catalog.plans import repository as plans
from metering.catalog.plans.compiled import rules_of
from metering.catalog.plans.models import Plan
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.service import describe
from metering.ledger.disputes import repository as disputes
from metering.ledger.disputes.models import DisputeStatus
from metering.notify.alerts import repository as alerts
from metering.notify.alerts.models import AlertFiring, AlertRule
from metering.platform.api.deps import app_settings
from metering.platform.api.problems import ProblemError
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings
from metering.platform.web.templating import humanize, render
from metering.surfaces.portal import service as portal
from metering.surfaces.portal.endpoints import portal_base
from metering.surfaces.vendor_web import console
from metering.surfaces.vendor_web.auth import VendorContext, vendor_context
from metering.surfaces.vendor_web.customer_rows import customer_rows, upcoming_totals
from pricing_rules.engine import decimal_text

router = APIRouter(include_in_schema=False)
RECENT = 20


def _search(statement: SelectOfScalar[Customer], q: str) -> SelectOfScalar[Customer]:
    """Customers whose id, external id, name or email contains `q` (any case; `%` and `_`
    are plain characters)."""
    fields = (Customer.id, Customer.external_id, Customer.name, Customer.email)
    return statement.where(
        sa.or_(
            *(sa.func.lower(col(field)).contains(q.lower(), autoescape=True) for field in fields)
        )
    )


def _on_plan(
    statement: SelectOfScalar[Customer], plan_id: str, now: datetime
) -> SelectOfScalar[Customer]:
    """Customers whose subscription in force now is on `plan_id`."""
    on_plan = select(Subscription.customer_id).where(
        Subscription.plan_id == plan_id,
        col(Subscription.starts_at) <= now,
        sa.or_(col(Subscription.ends_at).is_(None), col(Subscription.ends_at) > now),
    )
    return statement.where(col(Customer.id).in_(on_plan))


@router.get("/vendor/customers", response_class=HTMLResponse)
def customers_page(
    request: Request,
    q: str = Query("", max_length=200),
    plan: str = Query("", max_length=200),
    cursor: str | None = Query(None),
    before: str | None = Query(None),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """Oldest customer first; only the page shown is rated."""
    now = utcnow()
    vendor_plans = session.exec(plans.plans_of(context.vendor.id).order_by(col(Plan.slug))).all()
    statement = customers.listing(context.vendor.id)
    if q.strip():
        statement = _search(statement, q.strip())
    chosen = next((p for p in vendor_plans if p.slug == plan), None)
    if chosen is not None:
        statement = _on_plan(statement, chosen.id, now)
    try:
        page = console.keyset_page(
            session, statement, col(Customer.id), cursor or None, before or None
        )
    except ProblemError as error:
        return console.problem_page(request, context, error, "/vendor/customers")
    filters = {key: value for key, value in (("q", q.strip()), ("plan", plan)) if value}
    return render(
        request,
        "vendor/customers.html",
        console.values(
            context,
            "customers",
            rows=customer_rows(session, page.rows, now),
            plans=vendor_plans,
            q=q.strip(),
            plan=plan,
            filters=filters,
            next_cursor=page.next_cursor,
            previous_cursor=page.previous_cursor,
            first_page=cursor is None and before is None,
        ),
    )


@dataclass(frozen=True, slots=True)
class LimitRow:
    """A limit on what the customer is billed: its own spend limit, its plan's maximum, or
    an outcome's unit limit (`on_reach` as in the rule file)."""

    name: str
    limit: str
    on_reach: str


def limits_of(session: Session, customer: Customer, current: Subscription | None) -> list[LimitRow]:
    rules = rules_of(session, current.plan_version_id) if current is not None else None
    currency = rules.currency if rules is not None else None
    rows = []
    own = limits_service.out(customer, currency)
    if own.amount is not None:
        amount = console.money(own.amount, currency) if currency else own.amount
        reach = own.on_reach or "block"
        rows.append(LimitRow("Spend limit (this customer)", f"{amount} a period", reach))
    if rules is not None and rules.maximum is not None:
        amount = console.money(rules.maximum.amount, rules.currency)
        rows.append(LimitRow("Plan maximum", f"{amount} a period", rules.maximum.on_reach))
    for name, spec in rules.outcomes.items() if rules is not None else ():
        if spec.limit is not None:
            units = f"{decimal_text(spec.limit.units)} {humanize(name)} a period"
            rows.append(LimitRow("Unit limit", units, spec.limit.on_reach))
    return rows


def _customer_values(
    session: Session, context: VendorContext, customer: Customer
) -> dict[str, object]:
    now = utcnow()
    subs = subscriptions.of_customer(session, customer.id)
    current = next(
        (s for s in subs if s.starts_at <= now and (s.ends_at is None or now < s.ends_at)), None
    )
    upcoming = (
        upcoming_totals(session, {customer.id: current}, {customer.id: customer}, now)
        if current is not None
        else {}
    )
    recent = session.exec(
        invoices.listing(context.vendor.id, customer.id, None)
        .order_by(col(Invoice.id).desc())
        .limit(RECENT)
    ).all()
    open_disputes = [
        d
        for d in disputes.of_customer(session, customer.id)
        if d.status == DisputeStatus.OPEN.value
    ]
    applies = col(AlertRule.customer_id) == customer.id
    if current is not None:
        on_plan = col(AlertRule.customer_id).is_(None) & (col(AlertRule.plan_id) == current.plan_id)
        applies = applies | on_plan
    rules = session.exec(
        alerts.rules(context.vendor.id).where(applies).order_by(col(AlertRule.created_at))
    ).all()
    firings = session.exec(
        alerts.firings(context.vendor.id, customer_id=customer.id)
        .order_by(col(AlertFiring.fired_at).desc())
        .limit(RECENT)
    ).all()
    return console.values(
        context,
        "customers",
        customer=customer,
        subscriptions=describe(session, subs),
        current_id=current.id if current is not None else None,
        upcoming=upcoming.get(customer.id),
        invoices=invoice_service.invoices_out(session, recent),
        disputes=open_disputes,
        rules=rules,
        firings=firings,
        limits=limits_of(session, customer, current),
        portal_link=None,
    )


@router.get("/vendor/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    customer_id: str,
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    try:
        customer = customer_service.get_or_404(session, context.vendor, customer_id)
    except ProblemError as error:
        return console.problem_page(request, context, error, "/vendor/customers")
    values = _customer_values(session, context, customer)
    return render(request, "vendor/customer.html", values)


@router.post("/vendor/customers/{customer_id}/portal_link", response_class=HTMLResponse)
def make_portal_link(
    request: Request,
    customer_id: str,
    csrf_token: str = Form(""),
    context: VendorContext = Depends(vendor_context),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> HTMLResponse:
    """A single-use sign-in link for the customer, shown once on its page."""
    try:
        console.check_csrf(context, csrf_token)
        customer = customer_service.get_or_404(session, context.vendor, customer_id)
    except ProblemError as error:
        return console.problem_page(request, context, error, "/vendor/customers")
    link = portal.create_link(session, customer, None, utcnow(), settings.portal_link_lifetime)
    session.commit()
    values = _customer_values(session, context, customer)
    values["portal_link"] = {
        "url": f"{portal_base(request, settings)}/portal/session/{link.token}",
        "expires_at": link.row.expires_at,
    }
    return render(request, "vendor/customer.html", values)
