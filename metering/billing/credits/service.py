"""Rules of credit grants: creating (active, or pending the payment of its purchase),
activating, voiding and adjusting them, and their API views. Balances move only through
`ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlmodel import Session

from metering.billing.credits import ledger, repository
from metering.billing.credits.announce import announce_granted
from metering.billing.credits.drawdown import settle, use_order
from metering.billing.credits.ledger import LedgerError, LockedGrant
from metering.billing.credits.models import (
    CreditEntry,
    CreditGrant,
    EntryKind,
    GrantCategory,
    GrantStatus,
)
from metering.billing.credits.schemas import (
    AdjustmentCreate,
    BalanceOut,
    CurrencyBalance,
    EntryOut,
    ExpiringGrant,
    GrantCreate,
    GrantOut,
)
from metering.billing.invoices.live import rate_live
from metering.billing.invoices.periods import subscription_period
from metering.billing.invoices.rating import LineDraft, charge_label
from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.subscriptions.service import in_force
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError, not_found
from metering.platform.db.ids import new_id
from pricing_rules.engine import money_text
from pricing_rules.money import minor_units
from pricing_rules.rules import RuleFile


def money(amount: Decimal, currency: str) -> str:
    return money_text(amount, minor_units(currency))


def _invalid(field: str, message: str) -> ProblemError:
    return problems.INVALID_CREDIT_GRANT.error(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )


def parse_amount(text: str, currency: str, field: str, problem: problems.ProblemType) -> Decimal:
    """An amount with at most the currency's minor digits, or the problem naming `field`."""
    try:
        amount = Decimal(text)
    except InvalidOperation:  # the schema's pattern makes this unreachable
        amount = Decimal("NaN")
    digits = minor_units(currency)
    if not amount.is_finite() or amount != amount.quantize(Decimal(1).scaleb(-digits)):
        message = f"{text} has more decimals than {currency} has ({digits})"
        raise problem.error(
            f"{field}: {message}.", extra={"errors": [{"field": field, "message": message}]}
        )
    return amount


def plans_billed(
    session: Session, customer: Customer, subs: Sequence[Subscription] | None = None
) -> dict[str, list[RuleFile]]:
    """The rules of each plan version the customer is subscribed to (`subs`, read when not
    given), by currency."""
    found: dict[str, list[RuleFile]] = {}
    if subs is None:
        subs = subscriptions.of_customer(session, customer.id)
    versions = {sub.plan_version_id for sub in subs}
    for version_id in sorted(versions):
        rules = rules_of(session, version_id)
        found.setdefault(rules.currency, []).append(rules)
    return found


def _currency(data: GrantCreate, billed: dict[str, list[RuleFile]]) -> str:
    if data.currency is not None:
        currency = data.currency.lower()
        if currency not in billed:
            known = ", ".join(sorted(billed)) or "none: the customer has no plan"
            raise _invalid("currency", f"the customer is not billed in {currency} ({known})")
        return currency
    if len(billed) != 1:
        known = ", ".join(sorted(billed)) or "none: the customer has no plan"
        raise _invalid("currency", f"say which currency (the customer is billed in: {known})")
    return next(iter(billed))


def _validated(
    session: Session, customer: Customer, data: GrantCreate, now: datetime
) -> tuple[str, Decimal, datetime]:
    """The grant's currency, amount and effective instant, or the 422 naming the field."""
    currency = _currency(data, plans_billed(session, customer))
    amount = parse_amount(data.amount, currency, "amount", problems.INVALID_CREDIT_GRANT)
    if amount <= 0:
        raise _invalid("amount", f"{data.amount} is not above zero")
    effective_at = data.effective_at or now
    for field, instant in (("effective_at", data.effective_at), ("expires_at", data.expires_at)):
        if instant is not None and instant.tzinfo is None:
            raise _invalid(field, "give a timezone (for example 2026-12-01T00:00:00Z)")
    if data.expires_at is not None and data.expires_at <= effective_at:
        raise _invalid("expires_at", "must be after effective_at")
    if data.applies_to is not None:
        labels = {
            charge_label(charge)
            for rules in plans_billed(session, customer)[currency]
            for charge in rules.charges
        }
        unknown = [name for name in data.applies_to if name not in labels]
        if unknown:
            raise _invalid(
                "applies_to",
                f"no charge named {', '.join(unknown)} in the customer's plan "
                f"(its charges: {', '.join(sorted(labels))})",
            )
    if data.purchase is not None and data.category != GrantCategory.PAID:
        raise problems.CREDIT_PURCHASE_UNAVAILABLE.error(
            "purchase: only a paid grant is bought.",
            extra={"errors": [{"field": "purchase", "message": "only a paid grant is bought"}]},
        )
    return currency, amount, effective_at


def _new_grant(
    customer: Customer,
    data: GrantCreate,
    currency: str,
    amount: Decimal,
    effective_at: datetime,
    now: datetime,
) -> CreditGrant:
    return CreditGrant(
        id=new_id("crg"),
        vendor_id=customer.vendor_id,
        customer_id=customer.id,
        currency=currency,
        amount=amount,
        category=data.category.value,
        priority=data.priority,
        effective_at=effective_at,
        expires_at=data.expires_at,
        applies_to=data.applies_to,
        name=data.name,
        details=data.metadata,
        status=GrantStatus.PENDING_PAYMENT.value,
        remaining=Decimal(0),
        created_at=now,
    )


def create_pending(
    session: Session,
    customer: Customer,
    data: GrantCreate,
    now: datetime,
    purchase_invoice_id: str | None = None,
) -> CreditGrant:
    """A grant that is not usable yet (its purchase invoice unpaid): `activate` makes it so.
    Validated as `create`; nothing is written on bad input."""
    currency, amount, effective_at = _validated(session, customer, data, now)
    grant = _new_grant(customer, data, currency, amount, effective_at, now)
    grant.purchase_invoice_id = purchase_invoice_id
    session.add(grant)
    session.flush()
    return grant


def create(session: Session, customer: Customer, data: GrantCreate, now: datetime) -> CreditGrant:
    """A usable grant, with its `grant` ledger entry. A purchase is made by the purchase
    flow (it calls `create_pending`, then `activate` once paid)."""
    if data.purchase is not None:
        _validated(session, customer, data, now)
        raise problems.CREDIT_PURCHASE_UNAVAILABLE.error(
            "purchase: buying a grant through an invoice is not available on this server.",
            extra={"errors": [{"field": "purchase", "message": "not available"}]},
        )
    grant = create_pending(session, customer, data, now)
    return activate(session, grant.id, now)


def activate(
    session: Session, grant_id: str, now: datetime, invoice_id: str | None = None
) -> CreditGrant:
    """A pending grant becomes usable from now (its purchase invoice paid): `grant` entry."""
    locked = ledger.lock(session, [grant_id])[grant_id]
    ledger.activate(session, locked, now, invoice_id)
    grant = _reloaded(session, grant_id)
    announce_granted(session, grant)
    return grant


def _reloaded(session: Session, grant_id: str) -> CreditGrant:
    grant = session.get(CreditGrant, grant_id)
    assert grant is not None
    session.refresh(grant)
    return grant


def get_or_404(session: Session, vendor: Vendor, grant_id: str) -> CreditGrant:
    grant = repository.get(session, vendor.id, grant_id)
    if grant is None:
        raise not_found("credit grant", grant_id)
    return grant


def void(session: Session, grant: CreditGrant, now: datetime, reason: str | None) -> CreditGrant:
    """The unused remainder is voided (a `void` entry); what was drawn stays drawn."""
    locked = ledger.lock(session, [grant.id])[grant.id]
    try:
        ledger.void(session, locked, now, reason)
    except LedgerError:
        raise problems.CREDIT_GRANT_VOIDED.error(f"Grant '{grant.id}' is voided already.") from None
    return _reloaded(session, grant.id)


def adjust(
    session: Session, grant: CreditGrant, data: AdjustmentCreate, now: datetime
) -> CreditGrant:
    """A manual change of the balance with its reason (a `manual_adjustment` entry)."""
    problem = problems.INVALID_CREDIT_ADJUSTMENT
    amount = parse_amount(data.amount, grant.currency, "amount", problem)
    locked = ledger.lock(session, [grant.id])[grant.id]
    if locked.status != GrantStatus.ACTIVE.value:
        raise problems.CREDIT_GRANT_VOIDED.error(
            f"Grant '{grant.id}' is {locked.status}: only an active grant is adjusted."
        )
    if not amount or locked.remaining + amount < 0:
        message = (
            "is zero"
            if not amount
            else f"would leave the grant below zero (it holds "
            f"{money(locked.remaining, grant.currency)})"
        )
        raise problem.error(
            f"amount: {data.amount} {message}.",
            extra={"errors": [{"field": "amount", "message": message}]},
        )
    change = ledger.Change(locked, EntryKind.MANUAL_ADJUSTMENT, amount, now, reason=data.reason)
    ledger.record(session, [change])
    return _reloaded(session, grant.id)


def grant_out(grant: CreditGrant) -> GrantOut:
    return GrantOut(
        id=grant.id,
        customer_id=grant.customer_id,
        amount=money(grant.amount, grant.currency),
        currency=grant.currency,
        category=grant.category,
        priority=grant.priority,
        effective_at=grant.effective_at,
        expires_at=grant.expires_at,
        applies_to=grant.applies_to,
        name=grant.name,
        metadata=grant.details,
        status=grant.status,
        remaining=money(grant.remaining, grant.currency),
        purchase_invoice_id=grant.purchase_invoice_id,
        voided_at=grant.voided_at,
        expired_at=grant.expired_at,
        created_at=grant.created_at,
    )


def entry_out(entry: CreditEntry) -> EntryOut:
    return EntryOut(
        id=entry.id,
        grant_id=entry.grant_id,
        kind=entry.kind,
        amount=money(entry.amount, entry.currency),
        currency=entry.currency,
        invoice_id=entry.invoice_id,
        period_start=entry.period_start,
        period_end=entry.period_end,
        reason=entry.reason,
        at=entry.at,
    )


def entries_out(entries: Sequence[CreditEntry]) -> list[EntryOut]:
    return [entry_out(entry) for entry in entries]


EXPIRING_WITHIN = timedelta(days=30)


def _projected_draws(
    session: Session,
    customer: Customer,
    subs: Sequence[Subscription],
    grants: Sequence[LockedGrant],
    now: datetime,
    rated: Sequence[LineDraft] | None,
) -> dict[str, Decimal]:
    """What each grant would pay if the customer's open period closed now (live rating;
    `rated`: its lines, when the caller has rated it as of `now` already)."""
    subscription = in_force(subs, now)
    if subscription is None or not grants:
        return {}
    rules = rules_of(session, subscription.plan_version_id)
    period = subscription_period(subscription, rules, now)
    if rated is None:
        rated = rate_live(session, rules, [customer.id], period, now)[customer.id].lines
    usable = [g for g in grants if g.currency == rules.currency]
    settled = settle(usable, rated, (period.start, period.end), {}, now)
    draws: dict[str, Decimal] = {}
    for use in settled.uses:
        draws[use.grant.id] = draws.get(use.grant.id, Decimal(0)) - use.amount
    return draws


def balance_of(
    session: Session,
    customer: Customer,
    now: datetime,
    rated: Sequence[LineDraft] | None = None,
) -> BalanceOut:
    """Per currency: available now, the open period's projected draw, what is left after it,
    and the grants expiring within 30 days (`rated`: the open period's lines as of `now`,
    when the caller has them)."""
    grants = [ledger.snapshot(g) for g in repository.active_grants(session, customer.id)]
    subs = subscriptions.of_customer(session, customer.id)  # read once for both below
    draws = _projected_draws(session, customer, subs, grants, now, rated)
    currencies = sorted({g.currency for g in grants} | set(plans_billed(session, customer, subs)))
    balances = []
    for currency in currencies:
        mine = [g for g in grants if g.currency == currency]
        usable = [
            g
            for g in mine
            if g.effective_at <= now and (g.expires_at is None or g.expires_at > now)
        ]
        available = sum((g.remaining for g in usable), Decimal(0))
        drawn = sum((draws.get(g.id, Decimal(0)) for g in mine), Decimal(0))
        after = sum((g.remaining - draws.get(g.id, Decimal(0)) for g in usable), Decimal(0))
        expiring = [
            ExpiringGrant(
                grant_id=g.id,
                name=g.name,
                remaining=money(g.remaining, currency),
                expires_at=g.expires_at,
            )
            for g in sorted(usable, key=use_order)
            if g.expires_at is not None and g.expires_at <= now + EXPIRING_WITHIN and g.remaining
        ]
        balances.append(
            CurrencyBalance(
                currency=currency,
                available=money(available, currency),
                projected_draw=money(drawn, currency),
                available_after_projection=money(after, currency),
                expiring_soon=expiring,
            )
        )
    return BalanceOut(customer_id=customer.id, as_of=now, balances=balances)
