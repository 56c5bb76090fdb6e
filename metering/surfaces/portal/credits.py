"""What the portal's Credits page shows: balances, grants, the ledger, when credits run out.

The run-out date is the available balance over the current period's daily burn (the draw
the open period would make if it closed now, over the days it has run), from today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, col

from metering.billing.credit_purchases import portal_offer
from metering.billing.credit_purchases.schemas import PortalAmounts
from metering.billing.credits import repository, service
from metering.billing.credits.models import CreditEntry, CreditGrant
from metering.billing.credits.schemas import BalanceOut, CurrencyBalance, GrantOut
from metering.billing.invoices.periods import subscription_period
from metering.billing.invoices.rating import LineDraft
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.service import in_force
from metering.catalog.vendors.models import Vendor

LEDGER_SHOWN = 50
GRANTS_SHOWN = 100


@dataclass(frozen=True)
class Balance:
    """One currency's balance and, when credits are being used, when they run out."""

    line: CurrencyBalance
    daily_burn: Decimal | None
    runs_out_on: datetime | None


@dataclass(frozen=True)
class CreditsPage:
    balances: list[Balance]
    grants: list[GrantOut]
    entries: list[CreditEntry]
    # What the customer may buy here, by currency (empty: the vendor sells none here).
    offer: dict[str, PortalAmounts]


def _period_days(session: Session, customer: Customer, now: datetime) -> Decimal | None:
    """How many days of the current period have run (None: no plan in force)."""
    subscription = in_force(subscriptions.of_customer(session, customer.id), now)
    if subscription is None:
        return None
    period = subscription_period(subscription, rules_of(session, subscription.plan_version_id), now)
    elapsed = Decimal((now - period.start).total_seconds()) / Decimal(86400)
    return max(elapsed, Decimal(1))


def run_out(
    line: CurrencyBalance, days: Decimal | None, now: datetime
) -> tuple[Decimal | None, datetime | None]:
    """The daily burn and the date the balance runs out at it (None when nothing burns)."""
    drawn = Decimal(line.projected_draw)
    if days is None or drawn <= 0:
        return None, None
    burn = drawn / days
    left = Decimal(line.available_after_projection)
    return burn, now + timedelta(days=float(left / burn))


def balances(
    session: Session, customer: Customer, now: datetime, rated: Sequence[LineDraft] | None = None
) -> list[Balance]:
    """`rated`: the open period's lines as of `now`, when the caller has them (the overview)."""
    found: BalanceOut = service.balance_of(session, customer, now, rated)
    days = _period_days(session, customer, now)
    return [Balance(line, *run_out(line, days, now)) for line in found.balances]


def build(session: Session, vendor: Vendor, customer: Customer, now: datetime) -> CreditsPage:
    grants: Sequence[CreditGrant] = session.exec(
        repository.grants_of(customer.id)
        .order_by(col(CreditGrant.created_at).desc())
        .limit(GRANTS_SHOWN)
    ).all()
    entries = session.exec(
        repository.entries_of(customer.id).order_by(col(CreditEntry.id).desc()).limit(LEDGER_SHOWN)
    ).all()
    return CreditsPage(
        balances=balances(session, customer, now),
        grants=[service.grant_out(grant) for grant in grants],
        entries=list(entries),
        offer=portal_offer.offered(session, vendor, customer),
    )
