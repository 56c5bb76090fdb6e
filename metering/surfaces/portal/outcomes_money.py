"""What an outcome costs and on which invoice, for the rows a page shows.

The amount is `metering.billing.invoices.added` (its marginal price under its line's charges,
0 when it is not billed). The invoice is the one whose line names it when billed; otherwise
its period's invoice once issued (a late change is corrected on the next one), else the invoice
its period's close will issue, at the period's end plus the plan's `close_after` (the time the
upcoming invoice gives as `closes_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.added import added_by_rows
from metering.billing.invoices.models import Invoice, InvoiceStatus
from metering.catalog.plans.compiled import rules_of
from metering.surfaces.portal.outcomes_status import InvoiceRef
from pricing_rules.money import round_money

INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RowMoney:
    """What a row adds (None: not defined per outcome), in which currency, and where."""

    adds: Decimal | None
    currency: str
    period_invoice: InvoiceRef | None
    """Its period's issued invoice, when the row is not on a line of its own yet."""
    invoiced_at: datetime | None
    """When its period's close issues the invoice, while the period is not invoiced."""

    @property
    def shown(self) -> Decimal | None:
        """The amount to print: to the cent when that is exact, else with every digit."""
        if self.adds is None:
            return None
        rounded = round_money(self.adds, self.currency)
        return rounded if rounded == self.adds else self.adds.normalize()

    @property
    def billed(self) -> bool:
        """Whether the row adds anything (a duplicate or a reversed row adds 0)."""
        return self.adds is None or self.adds != 0


def period_invoices(
    session: Session, customer_id: str, starts: Sequence[datetime]
) -> dict[datetime, InvoiceRef]:
    """Period start -> its issued (not draft, not void) invoice, for these periods."""
    if not starts:
        return {}
    t = INVOICES.c
    statement = sa.select(t.period_start, t.id, t.number).where(
        t.customer_id == customer_id,
        t.period_start.in_(sorted(set(starts))),
        t.status.notin_([InvoiceStatus.DRAFT.value, InvoiceStatus.VOID.value]),
    )
    return {start: InvoiceRef(ident, number) for start, ident, number in session.execute(statement)}


def money_of(session: Session, customer_id: str, rows: Sequence[Any]) -> dict[int, RowMoney]:
    """Row id -> its money, in two or three queries whatever the number of rows."""
    added = added_by_rows(session, rows)
    issued = period_invoices(session, customer_id, [row.period_start for row in rows])
    found = {}
    for row in rows:
        rules = rules_of(session, row.plan_version_id)
        invoice = issued.get(row.period_start)
        found[row.id] = RowMoney(
            adds=added.get(row.id),
            currency=rules.currency,
            period_invoice=invoice,
            invoiced_at=None if invoice else row.period_end + rules.billing.close_after,
        )
    return found
