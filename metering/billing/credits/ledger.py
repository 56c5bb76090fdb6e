"""The only writer of credit ledger entries and of grants' balances and statuses.

Every balance change is one immutable `CreditEntry`, and the grant's cached `remaining` is
written in the same transaction as the entry, computed here from the locked row (never
`remaining + x` in SQL: SQLite keeps numbers as REAL). Callers lock the grants first
(`lock`/`lock_of_customers`: `SELECT ... FOR UPDATE` on PostgreSQL, in id order so two
writers never deadlock; SQLite transactions begin IMMEDIATE, one writer at a time), so
two concurrent voids or draws of one grant never take more than it holds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from metering.billing.credits import repository
from metering.billing.credits.models import CreditEntry, CreditGrant, EntryKind, GrantStatus
from metering.platform.db import jsontext
from metering.platform.db.bulk import insert_rows
from metering.platform.db.ids import new_ids

GRANTS: sa.Table = CreditGrant.__table__  # type: ignore[attr-defined]
ENTRIES: sa.Table = CreditEntry.__table__  # type: ignore[attr-defined]
ZERO = Decimal(0)
_IDS = postgresql.ARRAY(sa.String())


class LedgerError(Exception):
    """A change would leave a grant below zero or move it from a status it is not in."""


@dataclass(slots=True)
class LockedGrant:
    """A grant's row as locked by this transaction; `remaining` follows what is recorded."""

    id: str
    vendor_id: str
    customer_id: str
    currency: str
    amount: Decimal
    category: str
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    applies_to: list[str] | None
    name: str | None
    status: str
    remaining: Decimal
    created_at: datetime
    expired_at: datetime | None

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class Change:
    """One entry to record on a locked grant."""

    grant: LockedGrant
    kind: EntryKind
    amount: Decimal
    at: datetime
    invoice_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    reason: str | None = None


# `applies_to` is read as its JSON text and decoded once per distinct text: a close locks
# thousands of grants that name the same few charges.
_COLUMNS = [
    sa.cast(GRANTS.c.applies_to, sa.Text) if f.name == "applies_to" else GRANTS.c[f.name]
    for f in fields(LockedGrant)
]
_APPLIES_TO = [f.name for f in fields(LockedGrant)].index("applies_to")


def _locked(session: Session, where: sa.ColumnElement[bool]) -> list[LockedGrant]:
    """The grants matching `where`, locked in id order. Grants naming the same charges share
    one `applies_to` list (nobody changes it in place)."""
    statement = sa.select(*_COLUMNS).where(where).order_by(GRANTS.c.id).with_for_update()
    decoded: dict[str | None, list[str] | None] = {None: None}
    grants = []
    # Fetched a few hundred at a time: far cheaper than row by row, and fewer rows held at
    # once than all of them (garbage collections run by the number of objects alive).
    for rows in session.execute(statement).partitions(256):
        for row in rows:
            grant = LockedGrant(*row)
            text = row[_APPLIES_TO]
            if text not in decoded:
                decoded[text] = jsontext.loads(text)
            grant.applies_to = decoded[text]
            grants.append(grant)
    return grants


def _one_of(
    session: Session, column: sa.Column[str], values: Collection[str]
) -> sa.ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter however many values
    (a thousand customers' ids as separate parameters cost more to send than to find)."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(sorted(values))
    return column == sa.any_(sa.bindparam(None, sorted(values), type_=_IDS))


def snapshot(grant: CreditGrant) -> LockedGrant:
    """A grant as the drawdown reads it, unlocked: for projections, which write nothing."""
    return LockedGrant(**{f.name: getattr(grant, f.name) for f in fields(LockedGrant)})


def lock(session: Session, grant_ids: Collection[str]) -> dict[str, LockedGrant]:
    """The grants of `grant_ids`, locked until the transaction ends."""
    if not grant_ids:
        return {}
    return {g.id: g for g in _locked(session, _one_of(session, GRANTS.c.id, grant_ids))}


def lock_of_customers(
    session: Session,
    customer_ids: Collection[str],
    currency: str,
    usable_after: datetime | None = None,
    payers: Collection[str] = (),
) -> dict[str, list[LockedGrant]]:
    """Each customer's active grants in `currency`, locked until the transaction ends.

    With `usable_after`, only those a close may move: not expired by then and holding
    something, or among `payers` (grants a restore may give back to, empty or not). The
    others (used up, or expired long ago) are left unlocked, so a customer's old grants do
    not make each close lock more rows."""
    found: dict[str, list[LockedGrant]] = {}
    if not customer_ids:
        return found
    where = [
        _one_of(session, GRANTS.c.customer_id, customer_ids),
        GRANTS.c.currency == currency,
        GRANTS.c.status == GrantStatus.ACTIVE.value,
    ]
    if usable_after is not None:
        unexpired = sa.or_(GRANTS.c.expires_at.is_(None), GRANTS.c.expires_at > usable_after)
        movable = sa.and_(unexpired, GRANTS.c.remaining > ZERO)
        paying = _one_of(session, GRANTS.c.id, payers) if payers else None
        where.append(movable if paying is None else sa.or_(movable, paying))
    for grant in _locked(session, sa.and_(*where)):
        found.setdefault(grant.customer_id, []).append(grant)
    return found


def record(session: Session, changes: Sequence[Change]) -> list[str]:
    """Write the entries of `changes` and their grants' new balances; the entry ids.

    Refuses (LedgerError, nothing written) a change that would leave a grant below zero.
    """
    balances: dict[str, Decimal] = {}
    for change in changes:
        before = balances.get(change.grant.id, change.grant.remaining)
        after = before + change.amount
        if after < ZERO:
            raise LedgerError(
                f"grant {change.grant.id} holds {before}; {change.kind} of {change.amount} "
                "would leave it below zero"
            )
        balances[change.grant.id] = after
    # `new_ids` increase within a process even within a millisecond: the ledger (paged by
    # id) lists a grant's entries in the order they were written.
    ids = new_ids("cle", len(changes))
    rows: list[dict[str, object]] = [
        {
            "id": entry_id,
            "vendor_id": c.grant.vendor_id,
            "customer_id": c.grant.customer_id,
            "grant_id": c.grant.id,
            "currency": c.grant.currency,
            "kind": c.kind.value,
            "amount": c.amount,
            "invoice_id": c.invoice_id,
            "period_start": c.period_start,
            "period_end": c.period_end,
            "reason": c.reason,
            "at": c.at,
        }
        for entry_id, c in zip(ids, changes, strict=True)
    ]
    insert_rows(session, ENTRIES, rows)
    _write_balances(session, balances)
    for change in changes:
        change.grant.remaining = balances[change.grant.id]
    return ids


def _write_balances(session: Session, balances: dict[str, Decimal]) -> None:
    """Each grant's new `remaining`: one statement on PostgreSQL (arrays), else one per row."""
    if not balances:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.text(
                "UPDATE credit_grants AS g SET remaining = v.balance FROM unnest("
                "CAST(:ids AS VARCHAR[]), CAST(:balances AS NUMERIC[])) AS v(id, balance) "
                "WHERE g.id = v.id"
            ),
            {"ids": list(balances), "balances": list(balances.values())},
        )
        return
    session.execute(
        sa.update(GRANTS)
        .where(GRANTS.c.id == sa.bindparam("grant_id"))
        .values(remaining=sa.bindparam("balance")),
        [{"grant_id": gid, "balance": amount} for gid, amount in balances.items()],
    )


def _set(session: Session, grant: LockedGrant, **values: object) -> None:
    session.execute(sa.update(GRANTS).where(GRANTS.c.id == grant.id).values(**values))


def activate(session: Session, grant: LockedGrant, at: datetime, invoice_id: str | None) -> None:
    """A grant pending payment (or just created) becomes usable: its `grant` entry."""
    if grant.status != GrantStatus.PENDING_PAYMENT.value:
        raise LedgerError(f"grant {grant.id} is {grant.status}, not pending_payment")
    _set(session, grant, status=GrantStatus.ACTIVE.value)
    grant.status = GrantStatus.ACTIVE.value
    record(session, [Change(grant, EntryKind.GRANT, grant.amount, at, invoice_id)])


def void(session: Session, grant: LockedGrant, at: datetime, reason: str | None) -> None:
    """The unused remainder is voided; what was drawn stays drawn."""
    if grant.status == GrantStatus.VOIDED.value:
        raise LedgerError(f"grant {grant.id} is voided already")
    _set(session, grant, status=GrantStatus.VOIDED.value, voided_at=at)
    grant.status = GrantStatus.VOIDED.value
    if grant.remaining > ZERO:
        record(session, [Change(grant, EntryKind.VOID, -grant.remaining, at, reason=reason)])


def expire(session: Session, grant: LockedGrant, at: datetime) -> None:
    """What is left of an expired grant is taken (once: `expired_at` marks it done)."""
    if grant.expired_at is not None:
        return
    _set(session, grant, expired_at=at)
    grant.expired_at = at
    if grant.status == GrantStatus.ACTIVE.value and grant.remaining > ZERO:
        record(session, [Change(grant, EntryKind.EXPIRY, -grant.remaining, at)])


def invariant_violations(session: Session, customer_ids: Collection[str] = ()) -> list[str]:
    """Grants whose `remaining` differs from the sum of their entries, or is below zero, and
    entries naming an invoice that does not exist or is another customer's (no foreign key
    checks that: migration 0027); empty when the ledger is right: the invariant tests check
    after every scenario."""
    sums: dict[str, Decimal] = {}
    entries = sa.select(ENTRIES.c.grant_id, ENTRIES.c.amount)
    grants = sa.select(GRANTS.c.id, GRANTS.c.remaining)
    if customer_ids:
        entries = entries.where(ENTRIES.c.customer_id.in_(sorted(customer_ids)))
        grants = grants.where(GRANTS.c.customer_id.in_(sorted(customer_ids)))
    for grant_id, amount in session.execute(entries):
        sums[grant_id] = sums.get(grant_id, ZERO) + amount
    found = [
        f"entry {entry_id}: invoice {invoice_id} is missing or another customer's"
        for entry_id, invoice_id in repository.stray_invoices(session, customer_ids)
    ]
    for grant_id, remaining in session.execute(grants):
        total = sums.get(grant_id, ZERO)
        if remaining != total:
            found.append(f"grant {grant_id}: remaining {remaining} != sum of entries {total}")
        if remaining < ZERO:
            found.append(f"grant {grant_id}: remaining {remaining} is below zero")
    return found


def give_back(session: Session, invoice_id: str, at: datetime) -> None:
    """A voided invoice's credits go back to the grants that paid it (per period, so later
    corrections of those periods see them unpaid), unless a grant is voided or expired."""
    e = ENTRIES.c
    statement = (
        sa.select(e.grant_id, e.period_start, e.period_end, sa.func.sum(e.amount))
        .where(
            e.invoice_id == invoice_id,
            e.kind.in_([EntryKind.DRAWDOWN.value, EntryKind.RESTORE.value]),
        )
        .group_by(e.grant_id, e.period_start, e.period_end)
    )
    used = [
        (g, start, end, ZERO - Decimal(net)) for g, start, end, net in session.execute(statement)
    ]
    grants = lock(session, {grant_id for grant_id, *_ in used})
    changes = []
    for grant_id, start, end, drawn in sorted(used, key=lambda u: (u[0], u[1])):
        grant = grants[grant_id]
        if not drawn or grant.status != GrantStatus.ACTIVE.value or grant.expired_at:
            continue
        if drawn > 0:
            kind, amount = EntryKind.RESTORE, drawn
        else:  # it restored more than it drew: take that back, as far as the grant holds
            kind, amount = EntryKind.DRAWDOWN, max(drawn, -grant.remaining)
        changes.append(Change(grant, kind, amount, at, invoice_id, start, end, "invoice voided"))
    record(session, [c for c in changes if c.amount])
