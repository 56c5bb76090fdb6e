"""The portal's outcome list: one customer's outcome rows, filtered, a keyset page at a time.

Every filter is a condition on indexed outcome columns, so a page of a customer with a
hundred thousand outcomes reads about a page of rows (newest first along
`ix_outcomes_customer_time`). What a row shows beyond its own columns is looked up for the
page's rows only: the invoice lines that name them (their ids are kept on the line), the
open disputes of the customer, and the event properties its rule file lets the customer see
(`portal: {show: [...]}` per outcome; nothing else of the event ever leaves this module).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.api.pagination import decode_cursor, encode_cursor
from metering.api.problems import ProblemError
from metering.db import bulk
from metering.disputes import repository as disputes
from metering.disputes.models import DisputeStatus
from metering.events.models import StoredEvent
from metering.invoices.close import subscription_period
from metering.invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.outcomes.models import Outcome, OutcomeState
from metering.outcomes.plans import rules_of
from metering.subscriptions import repository as subscriptions
from metering.subscriptions.service import in_force
from pricing_rules.events import Event
from pricing_rules.paths import MISSING, Getter, canonical_key, compile_getter
from pricing_rules.rules import RuleFile

PAGE_SIZE = 50
EXPORT_CHUNK = 2000

OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
LINES: sa.Table = InvoiceLine.__table__  # type: ignore[attr-defined]
INVOICES: sa.Table = Invoice.__table__  # type: ignore[attr-defined]
EVENTS: sa.Table = StoredEvent.__table__  # type: ignore[attr-defined]


class DisplayStatus(StrEnum):
    """What the customer reads in the status column."""

    PENDING = "pending"
    BILLABLE = "billable"
    BILLED = "billed"
    CREDITED = "credited"
    REVERSED = "reversed"
    VOIDED = "voided"
    DUPLICATE = "duplicate"
    PROBLEM = "problem"
    DISPUTED = "disputed"


LABELS = {
    DisplayStatus.PENDING: "Pending settlement",
    DisplayStatus.BILLABLE: "Billable",
    DisplayStatus.BILLED: "Billed",
    DisplayStatus.CREDITED: "Credited",
    DisplayStatus.REVERSED: "Reversed",
    DisplayStatus.VOIDED: "Voided",
    DisplayStatus.DUPLICATE: "Duplicate",
    DisplayStatus.PROBLEM: "Problem",
    DisplayStatus.DISPUTED: "Disputed",
}


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


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    id: str
    number: int | None

    @property
    def label(self) -> str:
        return f"#{self.number}" if self.number is not None else "draft"


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

    @property
    def label(self) -> str:
        if self.status is DisplayStatus.BILLED and self.invoice is not None:
            return f"Billed on invoice {self.invoice.label}"
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


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filter form offers: outcome types and billing periods (newest first)."""

    outcome_names: list[str]
    periods: list[tuple[datetime, datetime]]


def choices(session: Session, customer_id: str, now: datetime) -> Choices:
    """The customer's outcome types, its invoiced periods and the period in force now."""
    subs = subscriptions.of_customer(session, customer_id)
    names: dict[str, None] = {}
    for subscription in subs:
        for name in rules_of(session, subscription.plan_version_id).outcomes:
            names.setdefault(name, None)
    periods = {
        (start, end)
        for start, end in session.execute(
            sa.select(INVOICES.c.period_start, INVOICES.c.period_end).where(
                INVOICES.c.customer_id == customer_id
            )
        )
    }
    current = in_force(subs, now)
    if current is not None:
        period = subscription_period(current, rules_of(session, current.plan_version_id), now)
        periods.add((period.start, period.end))
    return Choices(sorted(names), sorted(periods, reverse=True))


def value_text(value: Any) -> str:
    """A property value as text: strings as they are, numbers exactly, the rest as JSON."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str | bool | int | Decimal | float):
        return canonical_key(value)
    return json.dumps(value, sort_keys=True, default=str)


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


# --- which invoice lines name an outcome ------------------------------------------------


def _line_ids(session: Session) -> tuple[Any, sa.ColumnElement[Any]]:
    """The table-valued expansion of `invoice_lines.outcome_ids` and its element column."""
    if session.get_bind().dialect.name == "postgresql":
        expanded = sa.func.unnest(LINES.c.outcome_ids).table_valued("oid")
        return expanded, expanded.c.oid
    each = sa.func.json_each(LINES.c.outcome_ids).table_valued("value")
    return each, each.c.value


def _live_lines(customer_id: str) -> list[sa.ColumnElement[bool]]:
    """This customer's lines that count outcomes, on invoices that are not void."""
    return [
        LINES.c.customer_id == customer_id,
        LINES.c.outcome.is_not(None),
        INVOICES.c.status != InvoiceStatus.VOID.value,
    ]


def _ids_on_lines(
    session: Session, customer_id: str, kinds: Collection[LineKind], flt: OutcomeFilter
) -> sa.Select[Any]:
    """The outcome ids named by the customer's live lines of `kinds` (periods overlapping
    the filter's range only, so an old year of invoices is not expanded for a recent page)."""
    expanded, element = _line_ids(session)
    statement = (
        sa.select(element)
        .select_from(LINES.join(INVOICES, INVOICES.c.id == LINES.c.invoice_id))
        .join(expanded, sa.true())
        .where(*_live_lines(customer_id), LINES.c.kind.in_([kind.value for kind in kinds]))
    )
    if flt.since is not None:
        statement = statement.where(LINES.c.period_end > flt.since)
    if flt.until is not None:
        statement = statement.where(LINES.c.period_start < flt.until)
    return statement


BILLING = (LineKind.CHARGE, LineKind.ADJUSTMENT)
ANY_LINE = (LineKind.CHARGE, LineKind.ADJUSTMENT, LineKind.CREDIT)


def _last_lines(
    session: Session, customer_id: str, rows: Sequence[Any]
) -> dict[int, tuple[str, InvoiceRef]]:
    """Outcome id -> (kind, invoice) of the latest live line naming it, for these rows."""
    if not rows:
        return {}
    ids = [row.id for row in rows]
    starts = sorted({row.period_start for row in rows})
    expanded, element = _line_ids(session)
    statement = (
        sa.select(element, LINES.c.kind, INVOICES.c.id, INVOICES.c.number)
        .select_from(LINES.join(INVOICES, INVOICES.c.id == LINES.c.invoice_id))
        .join(expanded, sa.true())
        .where(
            *_live_lines(customer_id),
            LINES.c.period_start.in_(starts),
            element.in_(ids),
        )
        .order_by(INVOICES.c.created_at, INVOICES.c.id, LINES.c.position)
    )
    found: dict[int, tuple[str, InvoiceRef]] = {}
    for outcome_id, kind, invoice_id, number in session.execute(statement):
        found[int(outcome_id)] = (kind, InvoiceRef(invoice_id, number))
    return found


# --- the query ------------------------------------------------------------------------------


def _open_keys(session: Session, customer_id: str) -> dict[disputes.Key, str]:
    return {
        disputes.key_of(row): row.id
        for row in disputes.of_customer(session, customer_id)
        if row.status == DisputeStatus.OPEN.value
    }


KEY_TYPES = (sa.Text(), sa.Text(), sa.DateTime(timezone=True), sa.Text())


def _key_columns() -> tuple[Any, ...]:
    t = OUTCOMES.c
    return (t.customer_id, t.outcome, t.period_start, t.dedupe_key)


def _disputed(session: Session, keys: Collection[disputes.Key]) -> sa.ColumnElement[bool]:
    """Counted rows of a key with an open dispute."""
    if not keys:
        return sa.false()
    counted = OUTCOMES.c.state == OutcomeState.COUNTED.value
    return sa.and_(counted, bulk.tuples_in(session, _key_columns(), KEY_TYPES, list(keys)))


def _status_condition(
    session: Session,
    customer_id: str,
    status: DisplayStatus,
    flt: OutcomeFilter,
    now: datetime,
    open_keys: Collection[disputes.Key],
) -> sa.ColumnElement[bool]:
    """Rows the status filter keeps; the same rules `_display` applies to a row."""
    t = OUTCOMES.c
    if status is DisplayStatus.DISPUTED:
        return _disputed(session, open_keys)
    credited_lines = t.id.in_(_ids_on_lines(session, customer_id, [LineKind.CREDIT], flt))
    billed_lines = t.id.in_(_ids_on_lines(session, customer_id, BILLING, flt))
    counted = t.state == OutcomeState.COUNTED.value
    not_disputed = sa.not_(_disputed(session, open_keys))
    if status is DisplayStatus.CREDITED:
        return sa.or_(t.state == OutcomeState.CREDITED.value, credited_lines)
    if status is DisplayStatus.PENDING:
        return sa.and_(counted, t.settles_at > now, not_disputed, sa.not_(credited_lines))
    if status is DisplayStatus.BILLED:
        return sa.and_(counted, billed_lines, sa.not_(credited_lines), not_disputed)
    if status is DisplayStatus.BILLABLE:
        on_lines = t.id.in_(_ids_on_lines(session, customer_id, ANY_LINE, flt))
        return sa.and_(counted, t.settles_at <= now, sa.not_(on_lines), not_disputed)
    return sa.and_(t.state == status.value, sa.not_(credited_lines))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    open_keys: Collection[disputes.Key],
) -> list[sa.ColumnElement[bool]]:
    t = OUTCOMES.c
    where: list[sa.ColumnElement[bool]] = [t.customer_id == customer_id]
    if flt.outcome:
        where.append(t.outcome == flt.outcome)
    if flt.since is not None:
        where.append(t.occurred_at >= flt.since)
    if flt.until is not None:
        where.append(t.occurred_at < flt.until)
    if flt.search and flt.search.strip():
        pattern = f"%{_escape_like(flt.search.strip())}%"
        where.append(
            sa.or_(t.dedupe_key.ilike(pattern, escape="\\"), t.event_id.ilike(pattern, escape="\\"))
        )
    if flt.line_id is not None or flt.invoice_id is not None:
        where.append(t.id.in_(_ids_of_invoice(session, customer_id, flt)))
    if flt.status is not None:
        where.append(_status_condition(session, customer_id, flt.status, flt, now, open_keys))
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
    expanded, element = _line_ids(session)
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
    "dedupe_key",
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
    open_keys: Collection[disputes.Key],
    cursor: str | None,
    limit: int,
) -> list[Any]:
    t = OUTCOMES.c
    statement = sa.select(*(t[name] for name in COLUMNS)).where(
        *_conditions(session, customer_id, flt, now, open_keys)
    )
    if cursor is not None:
        when, ident = _after(cursor)
        statement = statement.where(
            # The bound on the indexed column first, so the scan starts at the cursor.
            t.occurred_at <= when,
            sa.or_(t.occurred_at < when, t.id < ident),
        )
    statement = statement.order_by(t.occurred_at.desc(), t.id.desc()).limit(limit + 1)
    return list(session.execute(statement).all())


def _display(
    row: Any,
    now: datetime,
    line: tuple[str, InvoiceRef] | None,
    dispute_id: str | None,
) -> tuple[DisplayStatus, InvoiceRef | None]:
    state = row.state
    if state == OutcomeState.COUNTED.value and dispute_id is not None:
        return DisplayStatus.DISPUTED, line[1] if line else None
    if state == OutcomeState.CREDITED.value:
        return DisplayStatus.CREDITED, line[1] if line else None
    if line is not None and line[0] == LineKind.CREDIT.value:
        return DisplayStatus.CREDITED, line[1]
    if state == OutcomeState.COUNTED.value:
        if line is not None:
            return DisplayStatus.BILLED, line[1]
        if row.settles_at > now:
            return DisplayStatus.PENDING, None
        return DisplayStatus.BILLABLE, None
    return DisplayStatus(state), None


def _views(
    session: Session,
    customer_id: str,
    rows: Sequence[Any],
    now: datetime,
    open_keys: dict[disputes.Key, str],
) -> list[OutcomeView]:
    lines = _last_lines(session, customer_id, rows)
    properties = _properties(session, rows)
    views = []
    for row in rows:
        dispute_id = open_keys.get((customer_id, row.outcome, row.period_start, row.dedupe_key))
        status, invoice = _display(row, now, lines.get(row.id), dispute_id)
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
            )
        )
    return views


def page(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> OutcomePage:
    """One page, newest first; `next_cursor` continues after its last row (None: the end).

    Raises `BadCursor` for a cursor this list did not issue and `UnknownLine` for an invoice
    or line of another customer.
    """
    check_invoice_filter(session, customer_id, flt)
    open_keys = _open_keys(session, customer_id)
    rows = _rows(session, customer_id, flt, now, open_keys, cursor, limit)
    next_cursor = _cursor_of(rows[limit - 1]) if len(rows) > limit else None
    views = _views(session, customer_id, rows[:limit], now, open_keys)
    return OutcomePage(views, next_cursor, visible_columns(session, customer_id))


def every_row(
    session: Session,
    customer_id: str,
    flt: OutcomeFilter,
    now: datetime,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[list[OutcomeView]]:
    """All matching rows, newest first, `chunk` at a time (for the CSV export)."""
    check_invoice_filter(session, customer_id, flt)
    open_keys = _open_keys(session, customer_id)
    cursor: str | None = None
    while True:
        rows = _rows(session, customer_id, flt, now, open_keys, cursor, chunk)
        yield _views(session, customer_id, rows[:chunk], now, open_keys)
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
    return _views(session, customer_id, rows, now, _open_keys(session, customer_id))[0]
