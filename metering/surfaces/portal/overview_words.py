"""The overview's lines and outcomes named and described in the customer's words."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session

from metering.billing.invoices.schemas import UpcomingInvoice
from metering.catalog.plans.compiled import rules_of
from metering.platform.web.format import Formatter
from metering.surfaces.portal.line_words import LineWords, describe, outcome_name


def lines(session: Session, upcoming: UpcomingInvoice, fmt: Formatter) -> list[LineWords]:
    """Each line of the upcoming invoice, in order, in plain words."""
    rules = rules_of(session, upcoming.plan_version_id)
    shown = Formatter(locale=fmt.locale, timezone=fmt.timezone, currency=upcoming.currency)
    return [
        describe(
            rules,
            kind=line.kind,
            charge_key=line.charge_key,
            outcome=line.outcome,
            quantity=None if line.quantity is None else Decimal(line.quantity),
            detail=line.detail,
            fmt=shown,
        )
        for line in upcoming.lines
    ]


def names(session: Session, upcoming: UpcomingInvoice) -> dict[str, str]:
    """Outcome name -> its display name under the plan in force."""
    rules = rules_of(session, upcoming.plan_version_id)
    return {name: outcome_name(rules, name) for name in rules.outcomes}
