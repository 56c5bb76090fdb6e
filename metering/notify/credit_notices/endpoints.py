"""`/v1/vendor/credit_notices`: the thresholds of `credits.low` and `credits.expiring`."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends
from sqlmodel import Session

from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.notify.credit_notices.evaluation import DEFAULT_EXPIRING_DAYS
from metering.notify.credit_notices.models import CreditNoticeSettings
from metering.notify.credit_notices.schemas import (
    CreditNoticeSettingsOut,
    CreditNoticeSettingsSet,
)
from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from pricing_rules.engine import money_text
from pricing_rules.money import check_currency, minor_units

router = APIRouter(tags=["vendor"], responses=problem_responses(*API_KEY_PROBLEMS))
PATH = "/v1/vendor/credit_notices"


def _out(found: CreditNoticeSettings | None) -> CreditNoticeSettingsOut:
    if found is None:
        return CreditNoticeSettingsOut(
            low_below={}, expiring_days=DEFAULT_EXPIRING_DAYS, updated_at=None
        )
    return CreditNoticeSettingsOut(
        low_below=found.low_below, expiring_days=found.expiring_days, updated_at=found.updated_at
    )


@router.get(PATH, response_model=CreditNoticeSettingsOut, summary="Credit notice thresholds")
def get_credit_notices(
    vendor: Vendor = Depends(current_vendor), session: Session = Depends(get_session)
) -> CreditNoticeSettingsOut:
    return _out(session.get(CreditNoticeSettings, vendor.id))


@router.put(
    PATH,
    response_model=CreditNoticeSettingsOut,
    summary="Set the credit notice thresholds",
    responses=problem_responses(problems.INVALID_REQUEST),
)
def set_credit_notices(
    data: CreditNoticeSettingsSet,
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
) -> CreditNoticeSettingsOut:
    """`credits.low` is sent when a customer's available balance in a currency drops below
    `low_below` for it, and again after it was back above; `credits.depleted` when it is
    zero; `credits.expiring` `expiring_days` before a grant with something left expires."""
    low_below: dict[str, str] = {}
    for code, text in data.low_below.items():
        field = f"low_below.{code}"
        try:
            currency = check_currency(code)
        except ValueError:
            raise _invalid(field, f"{code} is not a currency") from None
        amount = Decimal(text)
        digits = minor_units(currency)
        if amount != amount.quantize(Decimal(1).scaleb(-digits)):
            raise _invalid(field, f"has more decimals than {currency.upper()} has ({digits})")
        low_below[currency] = money_text(amount, digits)
    found = session.get(CreditNoticeSettings, vendor.id) or CreditNoticeSettings(
        vendor_id=vendor.id
    )
    found.low_below = low_below
    found.expiring_days = data.expiring_days
    found.updated_at = utcnow()
    session.add(found)
    session.commit()
    return _out(found)


def _invalid(field: str, message: str) -> problems.ProblemError:
    return problems.INVALID_REQUEST.error(
        f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]}
    )
