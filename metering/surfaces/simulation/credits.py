"""Credits in a simulation: what the customer's grants would have paid, side by side.

Each side replays the close's drawdown (`metering.billing.credits.drawdown.replay`: the same
order and allocation) over its own periods, earliest first, on copies of the customer's
grants as granted (their `amount`; a voided grant pays only periods before its void;
grants pending payment never pay). Draws before the range are not read, so the first
periods may find more credit than the closes did. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from metering.billing.credits.drawdown import replay
from metering.billing.credits.ledger import LockedGrant, snapshot
from metering.billing.credits.models import CreditGrant, GrantStatus
from metering.billing.invoices.rating import LineDraft, keyed_lines
from metering.surfaces.simulation.windows import Side, Window
from pricing_rules.pricing import PricedInvoice
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)


def grants_of(
    session: Session, customer_ids: Sequence[str], currency: str
) -> dict[str, list[LockedGrant]]:
    """Per customer, its grants in `currency` that were ever usable, with their full amount."""
    g = CreditGrant
    statement = (
        select(g)
        .where(
            col(g.customer_id).in_(sorted(customer_ids)),
            col(g.currency) == currency,
            col(g.status) != GrantStatus.PENDING_PAYMENT.value,
        )
        .order_by(col(g.id))
    )
    found: dict[str, list[LockedGrant]] = {}
    for grant in session.exec(statement):
        copy = replace(snapshot(grant), remaining=grant.amount)
        if grant.voided_at is not None:
            ends = grant.voided_at
            copy.expires_at = ends if copy.expires_at is None else min(copy.expires_at, ends)
        found.setdefault(grant.customer_id, []).append(copy)
    return found


def drafts(rules: RuleFile, priced: PricedInvoice, window: Window) -> list[LineDraft]:
    """A priced period's lines as the close drafts them (charge keys name the charges)."""
    start, end = window.period.start, window.period.end
    return [
        LineDraft(
            line.kind,
            line.key,
            line.description,
            line.outcome,
            line.quantity,
            line.amount,
            start,
            end,
            line.detail,
        )
        for line in keyed_lines(rules, priced)
    ]


@dataclass(frozen=True, slots=True)
class GrantDraw:
    grant_id: str
    name: str | None
    amount: Decimal
    """Drawn: positive."""


@dataclass(frozen=True, slots=True)
class PeriodDrawdown:
    """What credits paid for one period of one side."""

    side: Side
    period_start: datetime
    period_end: datetime
    invoice: Decimal
    """The period's invoice before credits."""
    drawn: Decimal
    grants: tuple[GrantDraw, ...]


@dataclass(slots=True)
class Drawdowns:
    """One customer's priced periods per side, drawn from its grants once all are priced."""

    grants: Sequence[LockedGrant]
    periods: dict[Side, list[tuple[Window, list[LineDraft]]]] = field(default_factory=dict)

    def add(self, window: Window, lines: list[LineDraft]) -> None:
        self.periods.setdefault(window.side, []).append((window, lines))

    def draw(self) -> list[PeriodDrawdown]:
        """Each side's periods with a draw, earliest first, current side first."""
        found: list[PeriodDrawdown] = []
        for side in Side:
            priced = sorted(self.periods.get(side, []), key=lambda p: p[0].period.start)
            settled = replay(
                self.grants,
                [((w.period.start, w.period.end), lines, w.as_of) for w, lines in priced],
            )
            for (window, lines), settlement in zip(priced, settled, strict=True):
                if not settlement.uses:
                    continue
                found.append(
                    PeriodDrawdown(
                        side,
                        window.period.start,
                        window.period.end,
                        sum((line.amount for line in lines), ZERO),
                        -sum((use.amount for use in settlement.uses), ZERO),
                        tuple(
                            GrantDraw(use.grant.id, use.grant.name, -use.amount)
                            for use in settlement.uses
                        ),
                    )
                )
        return found
