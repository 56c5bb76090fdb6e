"""Credits paying for an invoice at its close, after charges, minimum and cap.

For each invoice being closed, in this order:

1. restores: an earlier period whose correction lines take money back (net negative) gives
   it back first to the grants that paid for that period, last-used first, as far as they
   paid and while they are still valid as of this close (active, not expired); each is a
   positive `credits` line and a `restore` entry. What no grant takes back stays money;
2. draws: the lines of each earlier period whose correction adds money, then the lines of
   the period closed, are paid by the grants valid for that period (`effective_at` before
   its end, `expires_at` after its start), in order of priority, earliest expiry (none
   last), oldest `effective_at`, then creation; a grant pays only the lines it applies to
   (its charge names; every line when none), and never takes the invoice below zero. Each
   grant used is one negative `credits` line naming it and one `drawdown` entry.

`settle` is pure (a projection passes copies of the grants), and so is `replay` (one period
after another on copies, what a simulation draws); `settle_invoices` and `record_uses` are
the close's: they lock the grants and write through `ledger`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session

from metering.billing.credits import ledger, repository
from metering.billing.credits.ledger import Change, LockedGrant
from metering.billing.credits.models import EntryKind
from metering.billing.invoices.models import LineKind
from metering.billing.invoices.rating import LineDraft, label_of_key

ZERO = Decimal(0)
_NEVER = datetime.max.replace(tzinfo=UTC)

PeriodKey = tuple[datetime, datetime]
_CREDITS = LineKind.CREDITS.value


@dataclass(frozen=True, slots=True)
class Use:
    """One grant's part in an invoice: a drawdown (negative) or restore (positive)."""

    grant: LockedGrant
    kind: EntryKind
    amount: Decimal
    period_start: datetime
    period_end: datetime


@dataclass(slots=True)
class Settlement:
    """The `credits` lines to append to an invoice and the ledger changes behind them."""

    lines: list[LineDraft] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)


def use_order(grant: LockedGrant) -> tuple[int, datetime, datetime, datetime, str]:
    """Lower priority first, then earliest expiry (none last), oldest, first created."""
    return (
        grant.priority,
        grant.expires_at or _NEVER,
        grant.effective_at,
        grant.created_at,
        grant.id,
    )


def valid_for(grant: LockedGrant, start: datetime, end: datetime) -> bool:
    """Whether the grant's validity overlaps the period [start, end)."""
    return grant.effective_at < end and (grant.expires_at is None or grant.expires_at > start)


def _unexpired(grant: LockedGrant, instant: datetime) -> bool:
    return grant.expires_at is None or grant.expires_at > instant


def _periods(lines: Iterable[LineDraft]) -> dict[PeriodKey, list[LineDraft]]:
    grouped: dict[PeriodKey, list[LineDraft]] = {}
    for line in lines:
        if line.kind != _CREDITS:
            grouped.setdefault((line.period_start, line.period_end), []).append(line)
    return grouped


_TITLES = {
    EntryKind.DRAWDOWN: ("Credits", EntryKind.DRAWDOWN.value),
    EntryKind.RESTORE: ("Credits restored", EntryKind.RESTORE.value),
}


def _line(use: Use, corrects: str | None) -> LineDraft:
    grant = use.grant
    title, entry = _TITLES[use.kind]
    return LineDraft(
        kind=_CREDITS,
        charge_key=f"credits:{grant.id}",
        description=f"{title}: {grant.label}",
        outcome=None,
        quantity=None,
        amount=use.amount,
        period_start=use.period_start,
        period_end=use.period_end,
        detail={
            "grant_id": grant.id,
            "grant_name": grant.name,
            "category": grant.category,
            "entry": entry,
        },
        corrects_invoice_id=corrects,
    )


def settle(
    grants: Sequence[LockedGrant],
    lines: Sequence[LineDraft],
    current: PeriodKey,
    paid_before: Mapping[datetime, Mapping[str, Decimal]],
    as_of: datetime,
) -> Settlement:
    """The credits lines and uses of one invoice (`lines`: its charges and corrections;
    `current`: the period it closes; `paid_before`: per earlier period start, what each
    grant paid for it net of restores). Balances of `grants` are not changed here."""
    settlement = Settlement()
    if not grants:
        return settlement
    left = {grant.id: grant.remaining for grant in grants}
    ordered = sorted(grants, key=use_order)
    budget = sum((line.amount for line in lines), ZERO)
    grouped = _periods(lines)
    earlier = sorted(key for key in grouped if key != current)
    nets = {key: sum((line.amount for line in found), ZERO) for key, found in grouped.items()}
    if earlier:
        by_id = {grant.id: grant for grant in grants}
        for key in earlier:
            if nets[key] < 0:
                wanted = -nets[key]
                budget += _restore(settlement, key, grouped[key], wanted, paid_before, by_id, as_of)
    for key in [*earlier, current]:
        if key in grouped and nets[key] > 0:
            budget -= _draw(settlement, key, grouped[key], nets[key], ordered, left, budget)
    return settlement


def replay(
    grants: Sequence[LockedGrant],
    periods: Sequence[tuple[PeriodKey, Sequence[LineDraft], datetime]],
) -> list[Settlement]:
    """Settle `periods` (each: its key, its lines, its close's instant) one after another, in
    the order given, on copies of `grants` whose balances follow the draws: what the closes
    would have drawn. The grants passed in are not changed."""
    copies = [replace(grant) for grant in grants]
    settled = []
    for key, lines, closed_at in periods:
        settlement = settle(copies, lines, key, {}, closed_at)
        left = {grant.id: grant for grant in copies}
        for use in settlement.uses:
            left[use.grant.id].remaining += use.amount
        settled.append(settlement)
    return settled


def _restore(
    settlement: Settlement,
    key: PeriodKey,
    lines: Sequence[LineDraft],
    wanted: Decimal,
    paid_before: Mapping[datetime, Mapping[str, Decimal]],
    grants: Mapping[str, LockedGrant],
    as_of: datetime,
) -> Decimal:
    """Give `wanted` back to the grants that paid for the period, last-used first."""
    paid = paid_before.get(key[0], {})
    payers = [
        grants[grant_id]
        for grant_id, amount in paid.items()
        if amount > 0 and grant_id in grants and _unexpired(grants[grant_id], as_of)
    ]
    total = ZERO
    corrects = next((line.corrects_invoice_id for line in lines), None)
    for grant in sorted(payers, key=use_order, reverse=True):
        amount = min(wanted - total, paid[grant.id])
        if amount <= 0:
            break
        use = Use(grant, EntryKind.RESTORE, amount, key[0], key[1])
        settlement.uses.append(use)
        settlement.lines.append(_line(use, corrects))
        total += amount
    return total


def _draw(
    settlement: Settlement,
    key: PeriodKey,
    lines: Sequence[LineDraft],
    net: Decimal,
    ordered: Sequence[LockedGrant],
    left: dict[str, Decimal],
    budget: Decimal,
) -> Decimal:
    """Pay the period's lines (`net`: their sum) from the grants valid for it; the amount
    paid."""
    period_budget = min(net, budget)
    unpaid = [max(line.amount, ZERO) for line in lines]
    labels: list[str | None] = []
    every = range(len(lines))
    corrects = lines[0].corrects_invoice_id if lines else None
    total = ZERO
    start, end = key
    for grant in ordered:
        if period_budget - total <= 0:
            break
        if left[grant.id] <= 0 or not valid_for(grant, start, end):
            continue
        names = grant.applies_to
        if names is not None and not labels:
            labels = [label_of_key(line.charge_key) for line in lines]
        mine = every if names is None else [i for i in every if labels[i] in names]
        payable = sum((unpaid[i] for i in mine), ZERO)
        amount = min(left[grant.id], payable, period_budget - total)
        if amount <= 0:
            continue
        rest = amount
        for i in mine:
            if unpaid[i]:
                taken = min(rest, unpaid[i])
                unpaid[i] -= taken
                rest -= taken
                if not rest:
                    break
        left[grant.id] -= amount
        total += amount
        use = Use(grant, EntryKind.DRAWDOWN, -amount, key[0], key[1])
        settlement.uses.append(use)
        settlement.lines.append(_line(use, corrects))
    return total


@dataclass(frozen=True, slots=True)
class Closing:
    """An invoice being closed: its id (already chosen), customer, lines and period."""

    invoice_id: str
    customer_id: str
    lines: Sequence[LineDraft]
    period: PeriodKey


def settle_invoices(
    session: Session, closing: Sequence[Closing], currency: str, as_of: datetime
) -> dict[str, Settlement]:
    """Lock the customers' grants in `currency` that the closes may move and settle each
    invoice (by invoice id); invoices of customers without such a grant are left out.

    A grant used up, or expired before every period the invoices bill, can neither pay nor
    take anything back unless it paid an earlier period being corrected: only those are
    locked (`ledger.lock_of_customers`), which `settle` would have skipped anyway."""
    if not closing:
        return {}
    earlier = {
        line.period_start
        for c in closing
        for line in c.lines
        if (line.period_start, line.period_end) != c.period
    }
    paid: dict[str, dict[datetime, Mapping[str, Decimal]]] = {}
    found = repository.paid_by_grants(session, [c.customer_id for c in closing], earlier)
    for (customer_id, start), by_grant in found.items():
        paid.setdefault(customer_id, {})[start] = by_grant
    payers = {grant_id for by_grant in found.values() for grant_id in by_grant}
    first = min(
        [c.period[0] for c in closing] + [line.period_start for c in closing for line in c.lines]
    )
    grants = ledger.lock_of_customers(
        session, {c.customer_id for c in closing}, currency, first, payers
    )
    if not grants:
        return {}
    wanted = [c for c in closing if c.customer_id in grants]
    return {
        c.invoice_id: settle(
            grants[c.customer_id], c.lines, c.period, paid.get(c.customer_id, {}), as_of
        )
        for c in wanted
    }


def record_uses(session: Session, settled: Mapping[str, Settlement], at: datetime) -> None:
    """The ledger entries of settled invoices, once the invoices are written."""
    changes = [
        Change(use.grant, use.kind, use.amount, at, invoice_id, use.period_start, use.period_end)
        for invoice_id, settlement in settled.items()
        for use in settlement.uses
    ]
    if changes:
        ledger.record(session, changes)


def project(
    session: Session,
    customer_id: str,
    currency: str,
    lines: Sequence[LineDraft],
    current: PeriodKey,
    as_of: datetime,
) -> list[LineDraft]:
    """The `credits` lines a close would add to `lines` now (writing nothing)."""
    grants = [
        ledger.snapshot(g)
        for g in repository.active_grants(session, customer_id)
        if g.currency == currency
    ]
    if not grants:
        return []
    earlier = {
        line.period_start for line in lines if (line.period_start, line.period_end) != current
    }
    paid = repository.paid_by_grants(session, [customer_id], earlier)
    paid_before = {start: by_grant for (_, start), by_grant in paid.items()}
    return settle(grants, lines, current, paid_before, as_of).lines
