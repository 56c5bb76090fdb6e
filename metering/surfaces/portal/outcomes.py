"""The portal's outcome list: one customer's outcome rows, filtered, a keyset page at a time.

Every filter is a condition on indexed outcome columns, so a page of a customer with a
hundred thousand outcomes reads about a page of rows (newest first along
`ix_outcomes_customer_time`). What a row shows beyond its own columns is looked up for the
page's rows only: the invoice lines that name them (their ids are kept on the line), the
open disputes of the customer, and the event properties its rule file lets the customer see
(`portal: {show: [...]}` per outcome; nothing else of the event ever leaves this module).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.models import Invoice, InvoiceLine
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions import repository as subscriptions
from metering.ledger.disputes import repository as disputes
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome
from metering.ledger.states import DisplayStatus, OutcomeState
from metering.platform.api.pagination import decode_cursor, encode_cursor
from metering.platform.api.problems import ProblemError
from metering.surfaces.portal.outcomes_context import evidence, superseding, value_text
from metering.surfaces.portal.outcomes_money import RowMoney, money_of
from metering.surfaces.portal.outcomes_status import (
    LABELS,
    InvoiceRef,
    display,
    last_lines,
    line_ids,
    open_keys,
    status_condition,
)
from pricing_rules.events import Event
from pricing_rules.paths import Getter, compile_getter
from pricing_rules.rules import RuleFile

PAGE_SIZE = 50
REPEATS = (OutcomeState.DUPLICATE.value, OutcomeState.SUPERSEDED.value)
"""States hidden from the list by default: another row of the same key is the one billed."""
EXPORT_CHUNK = 2000

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
LINES: sa.Table = InvoiceLine.__table__  # type: ignore[attr-defined]
INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
EVENTS: sa.Table = StoredEvent.__table__  # type: ignore[attr-defined]


class BadCursor(ValueError):
    """A cursor this list did not issue."""


class UnknownLine(LookupError):
    """An invoice or line the customer does not have."""


@dataclass(frozen=True, slots=True)
class OutcomeFilter:
    """What the customer asked for; every field optional. `until` is exclusive."""

    outcome: str | None = None
    status: DisplayStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    invoice_id: str | None = None
    line_id: str | None = None
    hide_repeats: bool = False
    """Leave out duplicates and superseded outcomes (they add nothing; a toggle shows them)."""


@dataclass(frozen=True, slots=True)
class OutcomeView:
    """One row as the customer sees it; `properties` holds the visible paths only."""

    id: int
    occurred_at: datetime
    outcome: str
    status: DisplayStatus
    invoice: InvoiceRef | None
    dedupe_key: str
    event_id: str
    settles_at: datetime
    period_start: datetime
    period_end: datetime
    properties: dict[str, str] = field(default_factory=dict)
    open_dispute_id: str | None = None
    superseded_by: str | None = None
    """The outcome billed for the same subject instead (`exclusive`)."""
    superseded_by_id: int | None = None
    """Its row, which the pages link to."""
    evidence: dict[str, str] = field(default_factory=dict)
    """The `evidence` paths read on the event that confirmed it."""
    plan_version_id: str = ""
    money: RowMoney | None = None
    """What it adds to its invoice and which invoice that is (`outcomes_money`)."""

    @property
    def label(self) -> str:
        if self.status is DisplayStatus.BILLED and self.invoice is not None:
            return f"Billed on invoice {self.invoice.label}"
        if self.status is DisplayStatus.SUPERSEDED and self.superseded_by is not None:
            return f"Superseded by {self.superseded_by.replace('_', ' ')}"
        return LABELS[self.status]

    @property
    def disputable(self) -> bool:
        """Counted (pending, billable or billed) and not already disputed."""
        return self.status in (DisplayStatus.PENDING, DisplayStatus.BILLABLE, DisplayStatus.BILLED)


@dataclass(frozen=True, slots=True)
class OutcomePage:
    rows: list[OutcomeView]
    next_cursor: str | None
    columns: list[str]
    previous_cursor: str | None = None


# --- what the customer may see ------------------------------------------------------------


@lru_cache(maxsize=256)
def _getter(path: str) -> Getter:
    return compile_getter(path)


def _shown(rules: RuleFile, outcome: str) -> tuple[str, ...]:
    spec = rules.outcomes.get(outcome)
    return tuple(spec.portal.show) if spec is not None else ()


def visible_columns(session: Session, customer_id: str) -> list[str]:
    """Every path some outcome of the customer's plans shows, in rule-file order."""
    seen: dict[str, None] = {}
    for subscription in subscriptions.of_customer(session, customer_id):
        rules = rules_of(session, subscription.plan_version_id)
        for name in rules.outcomes:
            for path in _shown(rules, name):
                seen.setdefault(path, None)
    return list(seen)


def _properties(session: Session, rows: Sequence[Any]) -> dict[int, dict[str, str]]:
    """Outcome id -> the values of the paths its own outcome shows, read from its event."""
    shown: dict[int, tuple[str, ...]] = {}
    for row in rows:
        paths = _shown(rules_of(session, row.plan_version_id), row.outcome)
        if paths:
            shown[row.id] = paths
    if not shown:
        return {}
    pks = sorted({row.event_pk for row in rows if row.id in shown})
    e = EVENTS.c
    statement = sa.select(
        e.pk, e.event_id, e.type, e.customer_external_id, e.occurred_at, e.properties
    ).where(e.pk.in_(pks))
    events = {
        pk: Event(event_id, kind, customer, occurred_at, properties)
        for pk, event_id, kind, customer, occurred_at, properties in session.execute(statement)
    }
    values: dict[int, dict[str, str]] = {}
    for row in rows:
        event = events.get(row.event_pk)
        if row.id in shown and event is not None:
            values[row.id] = {path: value_text(_getter(path)(event)) for path in shown[row.id]}
    return values


# --- the query ------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    disputed: Collection[disputes.Key],
) -> list[sa.ColumnElement[bool]]:
    t = OUTCOMES.c
    where: list[sa.ColumnElement[bool]] = [t.customer_id == customer_id]
    if flt.outcome:
        where.append(t.outcome == flt.outcome)
    if flt.hide_repeats:
        where.append(t.state.notin_(REPEATS))
    if flt.since is not None:
        where.append(t.occurred_at >= flt.since)
    if flt.until is not None:
        where.append(t.occurred_at < flt.until)
    if flt.search and flt.search.strip():
        # lower() LIKE: the same on both databases, and twice as fast as PostgreSQL's ILIKE.
        pattern = f"%{_escape_like(flt.search.strip().lower())}%"
        where.append(
            sa.or_(
                sa.func.lower(t.dedupe_key).like(pattern, escape="\\"),
                sa.func.lower(t.event_id).like(pattern, escape="\\"),
            )
        )
    if flt.line_id is not None or flt.invoice_id is not None:
        where.append(t.id.in_(_ids_of_invoice(session, customer_id, flt)))
    if flt.status is not None:
        where.append(
            status_condition(
                session, customer_id, flt.status, (flt.since, flt.until), now, disputed
            )
        )
    return where


def check_invoice_filter(session: Session, customer_id: str, flt: OutcomeFilter) -> None:
    """Raise `UnknownLine` unless the invoice and line asked for are the customer's."""
    if flt.invoice_id is not None:
        invoice = session.get(Invoice, flt.invoice_id)
        if invoice is None or invoice.customer_id != customer_id:
            raise UnknownLine(flt.invoice_id)
    if flt.line_id is not None:
        line = session.get(InvoiceLine, flt.line_id)
        if (
            line is None
            or line.customer_id != customer_id
            or (flt.invoice_id is not None and line.invoice_id != flt.invoice_id)
        ):
            raise UnknownLine(flt.line_id)


def _ids_of_invoice(session: Session, customer_id: str, flt: OutcomeFilter) -> sa.Select[Any]:
    expanded, element = line_ids(session)
    statement = (
        sa.select(element)
        .select_from(LINES)
        .join(expanded, sa.true())
        .where(LINES.c.customer_id == customer_id)
    )
    if flt.invoice_id is not None:
        statement = statement.where(LINES.c.invoice_id == flt.invoice_id)
    if flt.line_id is not None:
        statement = statement.where(LINES.c.id == flt.line_id)
    return statement


def _cursor_of(row: Any) -> str:
    return encode_cursor(f"{row.occurred_at.isoformat()}|{row.id}")


def _after(cursor: str) -> tuple[datetime, int]:
    try:
        when_text, _, ident = str(decode_cursor(cursor)).partition("|")
        when = datetime.fromisoformat(when_text)
        if when.tzinfo is not None:
            return when, int(ident)
    except (ProblemError, ValueError):
        pass
    raise BadCursor(cursor)


COLUMNS = (
    "id",
    "occurred_at",
    "outcome",
    "state",
    "settles_at",
    "counted_from",
    "counted_until",
    "verify_by",
    "dedupe_key",
    "match_key",
    "customer_id",
    "event_id",
    "event_pk",
    "plan_version_id",
    "period_start",
    "period_end",
)


def _rows(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    disputed: Collection[disputes.Key],
    cursor: str | None,
    limit: int,
    newer: bool = False,
) -> list[Any]:
    """Rows after `cursor`, newest first; with `newer`, the rows before it, oldest first."""
    t = OUTCOMES.c
    statement = sa.select(*(t[name] for name in COLUMNS)).where(
        *conditions(session, customer_id, flt, now, disputed)
    )
    if cursor is not None:
        when, ident = _after(cursor)
        if newer:
            statement = statement.where(
                t.occurred_at >= when, sa.or_(t.occurred_at > when, t.id > ident)
            )
        else:
            statement = statement.where(
                # The bound on the indexed column first, so the scan starts at the cursor.
                t.occurred_at <= when,
                sa.or_(t.occurred_at < when, t.id < ident),
            )
    order = (t.occurred_at, t.id) if newer else (t.occurred_at.desc(), t.id.desc())
    statement = statement.order_by(*order).limit(limit + 1)
    return list(session.execute(statement).all())


def _views(
    session: Session,
    customer_id: str,
    rows: Sequence[Any],
    now: datetime,
    disputed: dict[disputes.Key, str],
) -> list[OutcomeView]:
    lines = last_lines(session, customer_id, rows)
    properties = _properties(session, rows)
    shown = [
        display(row, now, lines.get(row.id), disputed.get(_key(customer_id, row))) for row in rows
    ]
    winners = superseding(session, rows, [status for status, _ in shown])
    proofs = evidence(session, rows)
    money = money_of(session, customer_id, rows)
    views = []
    for row, (status, invoice) in zip(rows, shown, strict=True):
        dispute_id = disputed.get(_key(customer_id, row))
        views.append(
            OutcomeView(
                id=row.id,
                occurred_at=row.occurred_at,
                outcome=row.outcome,
                status=status,
                invoice=invoice,
                dedupe_key=row.dedupe_key,
                event_id=row.event_id,
                settles_at=row.settles_at,
                period_start=row.period_start,
                period_end=row.period_end,
                properties=properties.get(row.id, {}),
                open_dispute_id=dispute_id if status is DisplayStatus.DISPUTED else None,
                superseded_by=winners[row.id][0] if row.id in winners else None,
                superseded_by_id=winners[row.id][1] if row.id in winners else None,
                evidence=proofs.get(row.id, {}),
                plan_version_id=row.plan_version_id,
                money=money.get(row.id),
            )
        )
    return views


def _key(customer_id: str, row: Any) -> disputes.Key:
    return (customer_id, row.outcome, row.period_start, row.dedupe_key)


def page(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    before: str | None = None,
) -> OutcomePage:
    """One page, newest first: after `cursor`, or the page just before `before`.
    `next_cursor` continues after its last row and `previous_cursor` before its first (None:
    there is no such page).

    Raises `BadCursor` for a cursor this list did not issue and `UnknownLine` for an invoice
    or line of another customer.
    """
    check_invoice_filter(session, customer_id, flt)
    disputed = open_keys(session, customer_id)
    next_cursor: str | None
    if before is not None:
        rows = _rows(session, customer_id, flt, now, disputed, before, limit, newer=True)
        more_before = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        next_cursor = _cursor_of(rows[-1]) if rows else before
        previous_cursor = _cursor_of(rows[0]) if more_before else None
    else:
        rows = _rows(session, customer_id, flt, now, disputed, cursor, limit)
        next_cursor = _cursor_of(rows[limit - 1]) if len(rows) > limit else None
        rows = rows[:limit]
        previous_cursor = _cursor_of(rows[0]) if cursor is not None and rows else None
    views = _views(session, customer_id, rows, now, disputed)
    return OutcomePage(views, next_cursor, visible_columns(session, customer_id), previous_cursor)


def every_row(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[list[OutcomeView]]:
    """All matching rows, newest first, `chunk` at a time (for the CSV export)."""
    check_invoice_filter(session, customer_id, flt)
    disputed = open_keys(session, customer_id)
    cursor: str | None = None
    while True:
        rows = _rows(session, customer_id, flt, now, disputed, cursor, chunk)
        yield _views(session, customer_id, rows[:chunk], now, disputed)
        if len(rows) <= chunk:
            return
        cursor = _cursor_of(rows[chunk - 1])


def one(session: Session, customer_id: str, outcome_id: int, now: datetime) -> OutcomeView | None:
    """One of the customer's outcomes as the list shows it; None for another's or a missing one."""
    t = OUTCOMES.c
    rows = session.execute(
        sa.select(*(t[name] for name in COLUMNS)).where(
            t.id == outcome_id, t.customer_id == customer_id
        )
    ).all()
    if not rows:
        return None
    return _views(session, customer_id, rows, now, open_keys(session, customer_id))[0]
