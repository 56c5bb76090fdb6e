"""Automatic top-up: a paid grant is bought when the balance runs low, once per drop.

A customer's `available_after_projection` (the credits balance less what the open period
would draw if it closed now) is checked on ingestion's path at most once a minute per
customer (`checked_at`, moved by one conditional UPDATE, so two processes check once), and
after each close. When it is below the threshold and the top-up is `armed`, one conditional
UPDATE disarms it and counts the crossing: only the writer whose UPDATE matched buys, so a
drop buys once however many processes see it. The top-up is armed again once the balance is
back at or above the threshold (typically when the bought grant's invoice is paid), or when
the purchase failed for good: its invoice voided, or uncollectible after the last payment
retry (`abandon` then voids it, so a failed purchase and its replacement are never both
payable); `credits.top_up_failed` says so, and the next check buys again as a new crossing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.credit_purchases import service as purchases
from metering.billing.credit_purchases.activation import CROSSING_KEY
from metering.billing.credit_purchases.models import AutoTopUp
from metering.billing.credit_purchases.schemas import AutoTopUpOut, AutoTopUpSet
from metering.billing.credits import service as grants
from metering.billing.credits.models import CreditGrant, GrantCategory
from metering.billing.credits.schemas import GrantCreate, Purchase
from metering.catalog.customers.models import Customer
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError
from metering.platform.db import bulk
from metering.platform.db.types import utcnow

logger = logging.getLogger(__name__)

TOP_UPS: sa.Table = AutoTopUp.__table__  # type: ignore[attr-defined]
EVERY = timedelta(minutes=1)


def _field(text: str, currency: str, field: str) -> Decimal:
    return grants.parse_amount(text, currency, field, problems.INVALID_CREDIT_GRANT)


def _refused(field: str, message: str) -> ProblemError:
    return problems.INVALID_CREDIT_GRANT.error(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )


def configure(
    session: Session,
    customer: Customer,
    data: AutoTopUpSet,
    providers: Collection[str],
    now: datetime,
) -> AutoTopUp:
    """Set (or replace) the customer's top-up, checked as a purchase is; armed afresh."""
    billed = grants.plans_billed(session, customer)
    currency = (data.currency or "").lower() or (next(iter(billed)) if len(billed) == 1 else "")
    if currency not in billed:
        known = ", ".join(sorted(billed)) or "none: the customer has no plan"
        raise _refused("currency", f"say a currency the customer is billed in ({known})")
    below = _field(data.below, currency, "below")
    amount = _field(data.amount, currency, "amount")
    price = _field(data.price, currency, "price")
    if below < 0:
        raise _refused("below", "must not be below zero")
    if amount <= 0:
        raise _refused("amount", "must be above zero")
    if price <= 0:
        raise _refused("price", "must be above zero")
    purchases.check(customer, currency, price, providers)
    top_up = session.get(AutoTopUp, customer.id)
    if top_up is None:
        top_up = AutoTopUp(
            customer_id=customer.id,
            vendor_id=customer.vendor_id,
            currency=currency,
            below=below,
            amount=amount,
            price=price,
        )
    top_up.currency = currency
    top_up.below, top_up.amount, top_up.price = below, amount, price
    top_up.armed = True
    top_up.updated_at = now
    session.add(top_up)
    session.flush()
    return top_up


def top_up_out(top_up: AutoTopUp) -> AutoTopUpOut:
    money = grants.money
    return AutoTopUpOut(
        customer_id=top_up.customer_id,
        currency=top_up.currency,
        below=money(top_up.below, top_up.currency),
        amount=money(top_up.amount, top_up.currency),
        price=money(top_up.price, top_up.currency),
        armed=top_up.armed,
        crossings=top_up.crossing,
        checked_at=top_up.checked_at,
        updated_at=top_up.updated_at,
    )


def _available_after_projection(
    session: Session, customer: Customer, currency: str, now: datetime
) -> Decimal:
    for balance in grants.balance_of(session, customer, now).balances:
        if balance.currency == currency:
            return Decimal(balance.available_after_projection)
    return Decimal(0)


def check(
    session: Session,
    customer: Customer,
    providers: Collection[str],
    now: datetime,
) -> CreditGrant | None:
    """Buy the customer's top-up if its balance has just dropped below the threshold (in
    the caller's transaction); the grant bought, or None."""
    top_up = session.get(AutoTopUp, customer.id)
    if top_up is None:
        return None
    after = _available_after_projection(session, customer, top_up.currency, now)
    mine = TOP_UPS.c.customer_id == customer.id
    if after >= top_up.below:
        if not top_up.armed:
            session.execute(sa.update(TOP_UPS).where(mine).values(armed=True))
        return None
    if not top_up.armed:
        return None
    crossing = top_up.crossing + 1
    disarmed = session.execute(
        sa.update(TOP_UPS)
        .where(mine, TOP_UPS.c.armed.is_(True), TOP_UPS.c.crossing == top_up.crossing)
        .values(armed=False, crossing=crossing)
        .returning(TOP_UPS.c.customer_id)
    ).first()
    if disarmed is None:
        return None  # another process took this crossing
    money = grants.money
    order = GrantCreate(
        amount=money(top_up.amount, top_up.currency),
        currency=top_up.currency,
        category=GrantCategory.PAID,
        name="Automatic top-up",
        metadata={CROSSING_KEY: crossing},
        purchase=Purchase(price=money(top_up.price, top_up.currency)),
    )
    return purchases.purchase(session, customer, order, providers, now)


def _claim(session: Session, customer_id: str, now: datetime) -> bool:
    """Whether this check is the customer's first in the last minute (and marks it)."""
    claimed = session.execute(
        sa.update(TOP_UPS)
        .where(
            TOP_UPS.c.customer_id == customer_id,
            sa.or_(TOP_UPS.c.checked_at.is_(None), TOP_UPS.c.checked_at <= now - EVERY),
        )
        .values(checked_at=now)
        .returning(TOP_UPS.c.customer_id)
    ).first()
    return claimed is not None


def after_close(
    engine: Engine, customer_ids: Collection[str], providers: Collection[str], now: datetime
) -> list[str]:
    """Check the top-ups of the customers a close just invoiced (their credits were drawn)."""
    return check_customers(engine, customer_ids, providers, now, throttled=False)


def with_top_ups(session: Session, customer_ids: Collection[str]) -> list[str]:
    """Which of these customers have an automatic top-up, in id order."""
    column = TOP_UPS.c.customer_id
    statement = sa.select(column).where(bulk.text_in(session, column, sorted(customer_ids)))
    return sorted(session.execute(statement).scalars())


def check_customers(
    engine: Engine,
    customer_ids: Collection[str],
    providers: Collection[str],
    now: datetime | None = None,
    throttled: bool = True,
) -> list[str]:
    """Check the top-ups of these customers, each in its own transaction (`throttled`: at
    most once a minute per customer, as on ingestion's path); the ids of grants bought. A
    purchase that fails (its provider gone) is logged and left armed for the next check."""
    with Session(engine) as session:
        configured = with_top_ups(session, customer_ids)
    return check_configured(engine, configured, providers, now, throttled)


def check_configured(
    engine: Engine,
    configured: Collection[str],
    providers: Collection[str],
    now: datetime | None = None,
    throttled: bool = True,
) -> list[str]:
    """`check_customers` of customers `with_top_ups` already found to have one (throttled,
    a top-up removed since is skipped: its claim finds no row)."""
    now = now or utcnow()
    bought: list[str] = []
    for customer_id in configured:
        with Session(engine) as session:
            try:
                if throttled and not _claim(session, customer_id, now):
                    continue
                customer = session.get(Customer, customer_id)
                assert customer is not None
                grant = check(session, customer, providers, now)
                bought += [grant.id] if grant is not None else []
                session.commit()
            except ProblemError as refused:
                session.rollback()
                logger.warning("auto top-up of %s not bought: %s", customer_id, refused.detail)
    return bought
