"""The vendor's offer of credits in the portal (`vendors.portal_credit_purchases`): whether
customers may buy paid credits there, and the amounts allowed per currency. Credits bought
in the portal cost their face value; the purchase is an ordinary one (`service.purchase`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from metering.billing.credit_purchases import service as purchases
from metering.billing.credit_purchases.schemas import PortalAmounts, PortalPurchases
from metering.billing.credits import service as grants
from metering.billing.credits.models import CreditGrant
from metering.billing.credits.schemas import GrantCreate, Purchase
from metering.catalog.customers.models import Customer
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from pricing_rules.money import check_currency

PORTAL_GRANT_NAME = "Credits bought in the portal"


def _amount(text: str, currency: str, field: str, problem: problems.ProblemType) -> Decimal:
    amount = grants.parse_amount(text, currency, field, problem)
    if amount <= 0:
        raise purchases.refused(problem, field, "must be above zero")
    return amount


def _known(currency: str) -> bool:
    try:
        check_currency(currency)
    except ValueError:
        return False
    return True


def configure(vendor: Vendor, data: PortalPurchases) -> PortalPurchases:
    """Check the offer (a 422 naming the field, nothing written) and set it on `vendor`
    (the caller commits); the offer as stored, amounts in the currency's minor digits."""
    problem = problems.INVALID_REQUEST
    amounts: dict[str, PortalAmounts] = {}
    for given, limits in data.amounts.items():
        currency = given.lower()
        field = f"amounts.{given}"
        if not _known(currency):
            raise purchases.refused(problem, field, "is not a currency code (ISO 4217, like 'usd')")
        minimum = _amount(limits.minimum, currency, f"{field}.minimum", problem)
        maximum = _amount(limits.maximum, currency, f"{field}.maximum", problem)
        if maximum < minimum:
            raise purchases.refused(problem, f"{field}.maximum", "must be at or above the minimum")
        amounts[currency] = PortalAmounts(
            minimum=grants.money(minimum, currency), maximum=grants.money(maximum, currency)
        )
    if data.enabled and not amounts:
        raise purchases.refused(problem, "amounts", "name at least one currency when enabled")
    offer = PortalPurchases(enabled=data.enabled, amounts=amounts)
    vendor.portal_credit_purchases = offer.model_dump()
    return offer


def offer_of(vendor: Vendor) -> PortalPurchases:
    """The vendor's offer; off when it never set one."""
    stored = vendor.portal_credit_purchases
    return PortalPurchases() if stored is None else PortalPurchases.model_validate(stored)


def offered(session: Session, vendor: Vendor, customer: Customer) -> dict[str, PortalAmounts]:
    """The amounts the customer may buy, by currency it is billed in (empty: none)."""
    offer = offer_of(vendor)
    if not offer.enabled:
        return {}
    billed = grants.plans_billed(session, customer)
    return {currency: limits for currency, limits in offer.amounts.items() if currency in billed}


def buy(
    session: Session,
    vendor: Vendor,
    customer: Customer,
    amount_text: str,
    currency: str,
    providers: Collection[str],
    now: datetime,
) -> CreditGrant:
    """Buy `amount_text` of credits at face value in the portal (the caller commits): a 422
    naming `amount` or `currency` when the vendor's offer does not allow it."""
    problem = problems.INVALID_CREDIT_GRANT
    allowed = offered(session, vendor, customer)
    limits = allowed.get(currency.lower())
    if limits is None:
        message = "credits cannot be bought in this currency here"
        raise purchases.refused(problem, "currency", message)
    currency = currency.lower()
    text = amount_text.strip()
    try:
        Decimal(text)
    except ArithmeticError:
        raise purchases.refused(problem, "amount", "say an amount like 50.00") from None
    amount = _amount(text, currency, "amount", problem)
    minimum, maximum = Decimal(limits.minimum), Decimal(limits.maximum)
    if not minimum <= amount <= maximum:
        span = f"{limits.minimum} and {limits.maximum} {currency.upper()}"
        raise purchases.refused(problem, "amount", f"must be between {span}")
    money = grants.money(amount, currency)
    order = GrantCreate(
        amount=money,
        currency=currency,
        category="paid",
        name=PORTAL_GRANT_NAME,
        purchase=Purchase(price=money),
    )
    return purchases.purchase(session, customer, order, providers, now)
