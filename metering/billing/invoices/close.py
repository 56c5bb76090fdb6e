"""Closing due periods: every subscription's next period, once its late window has passed.

A subscription's cursor is `billed_through` (or `starts_at`); the period to close is the
plan period containing the cursor, clipped to the subscription. It is due when its end
plus the plan's `close_after` has passed; it is priced as of exactly that instant, so
closing is deterministic whenever it runs: a reversal, void or credit stored before a late
close but taking effect after that instant does not count yet (`metering.ledger.states`,
counted spans), and the period stays stale so the next close corrects it. Customers
sharing a plan version and a period are closed together: one aggregate query, bulk
inserts, one UPDATE of the cursors. Once charges, minimum, cap and corrections are priced,
the customers' prepaid credits pay for them (`metering.billing.credits.drawdown`: negative
`credits` lines, and ledger entries written in the same transaction).

Safe to run twice or in two processes: each batch claims its subscription rows
(PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite has one writer at a time) and closes only the
ones whose cursor has not moved, and invoices are unique per (customer, period start).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from metering.billing.commitments.positions import PeriodPosition, period_position
from metering.billing.commitments.stale import spread_stale_marks
from metering.billing.credits.drawdown import Closing, record_uses, settle_invoices
from metering.billing.invoices import lifecycle, repository
from metering.billing.invoices.corrections import correct_period, rest_after_interim
from metering.billing.invoices.models import InvoiceKind, InvoiceStatus
from metering.billing.invoices.prefetch import Prefetch
from metering.billing.invoices.rating import LineDraft, rate
from metering.billing.invoices.usage import Tallies, measure_tallies
from metering.billing.invoices.values import ValueStream, measured_usage
from metering.catalog.customers.models import CollectionMethod, Customer
from metering.catalog.plans.compiled import rules_of
from metering.catalog.subscriptions.models import Subscription
from metering.ledger.outcomes.stale import clear_stale, mark_stale, stale_marks
from metering.ledger.tallies import repository as running_tallies
from metering.platform import collector
from metering.platform.db.members import one_of
from metering.platform.db.types import utcnow
from pricing_rules.periods import Period, clip, period_containing
from pricing_rules.rules import RuleFile

BATCH_SIZE = 1000
CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
Progress = Callable[[int, int], None]
"""Called after each batch with (periods done, periods found due so far)."""


@dataclass(frozen=True, slots=True)
class DuePeriod:
    """A subscription's next period to close, and the subscription as it was when found
    (`cursor`: where it stood; `ends_at`: where it ended, which cuts the period)."""

    subscription_id: str
    customer_id: str
    vendor_id: str
    plan_version_id: str
    cursor: datetime
    ends_at: datetime | None
    period: Period


@dataclass(frozen=True, slots=True)
class ClosedInvoice:
    id: str
    number: int
    customer_id: str
    period_start: datetime
    period_end: datetime
    currency: str
    total: Decimal
    corrections: int


@dataclass(slots=True)
class CloseReport:
    """What a run closed; `skipped`: due periods another process was closing."""

    invoices: list[ClosedInvoice] = field(default_factory=list)
    corrected_periods: int = 0
    skipped: int = 0


def due_periods(
    session: Session,
    now: datetime,
    vendor_id: str | None = None,
    customer_id: str | None = None,
) -> list[DuePeriod]:
    """The next period of every subscription whose late window has passed by `now`."""
    s = Subscription
    cursor = sa.func.coalesce(col(s.billed_through), col(s.starts_at))
    statement = sa.select(
        col(s.id),
        col(s.customer_id),
        col(s.vendor_id),
        col(s.plan_version_id),
        col(s.starts_at),
        col(s.ends_at),
        cursor.label("cursor"),
    ).where(cursor <= now, sa.or_(col(s.ends_at).is_(None), cursor < col(s.ends_at)))
    if vendor_id is not None:
        statement = statement.where(col(s.vendor_id) == vendor_id)
    if customer_id is not None:
        statement = statement.where(col(s.customer_id) == customer_id)
    rules: dict[str, RuleFile] = {}
    periods: dict[tuple[str, datetime], Period] = {}  # subscriptions mostly share a cursor
    due = []
    for sub_id, customer, vendor, version, starts_at, ends_at, start in session.execute(
        statement.order_by(col(s.id))
    ):
        if version not in rules:
            rules[version] = rules_of(session, version)
        billing = rules[version].billing
        plan_period = periods.get((version, start))
        if plan_period is None:
            plan_period = period_containing(start, billing.interval, billing.timezone)
            periods[(version, start)] = plan_period
        period = clip(plan_period, starts_at, ends_at)
        if period.end + billing.close_after <= now:
            due.append(DuePeriod(sub_id, customer, vendor, version, start, ends_at, period))
    return due


def _batches(due: Sequence[DuePeriod], size: int) -> Iterator[list[DuePeriod]]:
    """Periods sharing a plan version and period, `size` at a time."""

    def key(item: DuePeriod) -> tuple[str, datetime, datetime]:
        return (item.plan_version_id, item.period.start, item.period.end)

    for _, group in groupby(sorted(due, key=key), key=key):
        members = list(group)
        for start in range(0, len(members), size):
            yield members[start : start + size]


def close_due(
    engine: Engine,
    now: datetime | None = None,
    vendor_id: str | None = None,
    customer_id: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> CloseReport:
    """Close every due period (catching up period by period) and issue its invoice."""
    now = now or utcnow()
    report = CloseReport()
    done = 0
    while True:
        with Session(engine) as session:
            due = due_periods(session, now, vendor_id, customer_id)
        if not due:
            break
        found = done + len(due)
        moved_now = 0
        for batch in _batches(due, batch_size):
            moved = _close_batch(engine, batch, now, report)
            moved_now += moved
            report.skipped += len(batch) - moved
            done += len(batch)
            if progress is not None:
                progress(done, found)
        if moved_now == 0:
            break
    return report


def _claim(session: Session, batch: Sequence[DuePeriod]) -> list[DuePeriod]:
    """Lock the batch's subscriptions and keep those nobody changed since they were read
    (closed by another process, or ended or moved to another version by a plan change)."""
    expected = {item.subscription_id: item for item in batch}
    s = Subscription
    statement = (
        sa.select(
            col(s.id),
            col(s.billed_through),
            col(s.starts_at),
            col(s.ends_at),
            col(s.plan_version_id),
        )
        .where(one_of(col(s.id), sorted(expected)))
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for sub_id, billed_through, starts_at, ends_at, version in session.execute(statement):
        item = expected[sub_id]
        now_as_read = (billed_through or starts_at, ends_at, version)
        if now_as_read == (item.cursor, item.ends_at, item.plan_version_id):
            claimed.append(item)
    return claimed


@dataclass(frozen=True, slots=True)
class Terms:
    """How a customer pays its invoices: what an issued invoice's due date depends on (read
    as two columns: loading a thousand customers as models costs a tenth of a close)."""

    collection_method: str
    days_until_due: int


@dataclass(slots=True)
class Draft:
    """One invoice being built in a batch."""

    item: DuePeriod
    customer: Terms
    lines: list[LineDraft]
    corrections: int = 0
    invoice_id: str = field(default_factory=repository.new_invoice_id)
    kind: InvoiceKind = InvoiceKind.PERIOD


def _close_batch(
    engine: Engine, batch: Sequence[DuePeriod], now: datetime, report: CloseReport
) -> int:
    """Close one batch in one transaction (the garbage collector paused: what it builds lives
    until it ends); the number of subscriptions moved on."""
    first = batch[0]
    period = first.period
    with collector.paused(), Session(engine, expire_on_commit=False) as session:
        claimed = _claim(session, batch)
        invoiced = repository.customers_invoiced(
            session, [item.customer_id for item in claimed], period.start
        )
        if not claimed:
            session.rollback()
            return 0
        # A period invoiced already (under a subscription replaced since) only moves on.
        repository.advance_subscriptions(
            session, [item.subscription_id for item in claimed], period.end, now
        )
        moved = len(claimed)
        claimed = [item for item in claimed if item.customer_id not in invoiced]
        rules = rules_of(session, first.plan_version_id)
        as_of = period.end + rules.billing.close_after
        ids = [item.customer_id for item in claimed]
        spread_stale_marks(session, ids)
        marks = stale_marks(session, ids)  # read before measuring
        stored = running_tallies.StoredTotals()
        with (
            ValueStream(session, rules, ids, period.start, as_of) as stream,
            _kept_tallies(session, ids, period.start) as kept,
        ):
            stream.prefetch()
            tallies = measure_tallies(session, rules, ids, period.start, as_of, stored=stored)
            kept_rows = kept()
            drafts = price_claimed(session, claimed, rules, tallies, stream, as_of)
        bill_rest_after_interim(session, drafts, rules, as_of)
        cleared, corrected = _add_corrections(session, drafts, marks, as_of, rules.currency)
        settled = settle_invoices(session, closings(drafts), rules.currency, as_of)
        for draft in drafts:
            if draft.invoice_id in settled:
                draft.lines.extend(settled[draft.invoice_id].lines)
        closed = issue_drafts(session, drafts, rules, as_of, now)
        record_uses(session, settled, now)
        cleared += [
            (customer_id, period.start, marks[(customer_id, period.start)])
            for customer_id in ids
            if (customer_id, period.start) in marks
        ]
        for customer_id, period_start, generation in cleared:
            clear_stale(session, customer_id, period_start, generation)
        waiting = [
            c for c, counted in tallies.items() if any(t.unsettled for t in counted.values())
        ]
        mark_stale(session, [(first.vendor_id, c, period.start) for c in waiting])
        running_tallies.reconcile(session, ids, period.start, stored.totals(), kept_rows)
        session.commit()
    report.invoices.extend(closed)
    report.corrected_periods += corrected
    return moved


@contextmanager
def _kept_tallies(
    session: Session, ids: Sequence[str], period_start: datetime
) -> Iterator[Callable[[], list[Sequence[Any]] | None]]:
    """The tally side of the close's tally check (`running_tallies.drifted`), read on
    PostgreSQL beside the close's aggregate (`Prefetch`); SQLite reads it when reconciling."""
    if not ids or session.get_bind().dialect.name != "postgresql":
        yield lambda: None
        return
    params = {"customers": sorted(set(ids)), "period_start": period_start}
    prefetch = Prefetch(session, running_tallies.KEPT_SQL, params)
    try:
        yield lambda: [row for chunk in prefetch.chunks() for row in chunk]
    finally:
        prefetch.close()


def price_claimed(
    session: Session,
    claimed: Sequence[DuePeriod],
    rules: RuleFile,
    tallies: Tallies,
    stream: ValueStream,
    as_of: datetime,
) -> list[Draft]:
    """Each claimed period priced by the core from its tallies."""
    if not claimed:
        return []
    ids = [item.customer_id for item in claimed]
    c = CUSTOMERS.c
    customers = {
        customer_id: Terms(method, days)
        for customer_id, method, days in session.execute(
            sa.select(c.id, c.collection_method, c.days_until_due).where(one_of(c.id, ids))
        )
    }
    positions = _positions(session, claimed, rules, as_of)
    drafts = []
    for item in sorted(claimed, key=lambda item: item.customer_id):  # the stream's order
        counted = tallies.get(item.customer_id, {})
        usage = measured_usage(rules, item.customer_id, counted, stream)
        outcome_ids = {name: tally.ids for name, tally in counted.items()}
        group_ids = {
            (name, value): group.ids
            for name, tally in counted.items()
            for value, group in tally.groups.items()
        }
        found = positions.get(item.customer_id)
        lines = rate(
            rules,
            usage,
            outcome_ids,
            item.period.start,
            item.period.end,
            group_ids,
            found.position if found else None,
            found.ids if found else None,
        )
        drafts.append(Draft(item, customers[item.customer_id], lines))
    return drafts


def bill_rest_after_interim(
    session: Session, drafts: Sequence[Draft], rules: RuleFile, as_of: datetime
) -> None:
    """A period with an interim invoice bills the rest by difference per charge, with the
    correction arithmetic (tiers, minimum, cap and commitment stay exact: a volume tier
    reached since can make the rest a credit)."""
    if not drafts:
        return
    period_start = drafts[0].item.period.start
    interims = repository.interims_of(session, [d.item.customer_id for d in drafts], period_start)
    for draft in drafts:
        interim = interims.get(draft.item.customer_id)
        if interim is not None:
            draft.lines = rest_after_interim(session, interim, draft.item.period, rules, as_of)


def _positions(
    session: Session, claimed: Sequence[DuePeriod], rules: RuleFile, as_of: datetime
) -> dict[str, PeriodPosition]:
    """Each claimed period's position in its commitment term (none without a commitment)."""
    if rules.commitment is None:
        return {}
    plans = dict(
        session.execute(
            sa.select(col(Subscription.id), col(Subscription.plan_id)).where(
                col(Subscription.id).in_(sorted(item.subscription_id for item in claimed))
            )
        ).all()
    )
    found = {}
    for item in claimed:
        period = (item.period.start, item.period.end)
        plan_id = plans[item.subscription_id]
        position = period_position(session, rules, item.customer_id, plan_id, period, as_of)
        if position is not None:
            found[item.customer_id] = position
    return found


def closings(drafts: Sequence[Draft]) -> list[Closing]:
    """The drafts as credits see them: charges and corrections, then credits pay (brief:
    subtotal, commitments, credits, then tax, which the payment provider adds)."""
    return [
        Closing(d.invoice_id, d.item.customer_id, d.lines, (d.item.period.start, d.item.period.end))
        for d in drafts
    ]


def issue_drafts(
    session: Session, drafts: Sequence[Draft], rules: RuleFile, as_of: datetime, now: datetime
) -> list[ClosedInvoice]:
    """Number the drafts (gapless: the counter stays locked until commit) and issue them."""
    if not drafts:
        return []
    number = repository.reserve_numbers(session, drafts[0].item.vendor_id, len(drafts))
    rows = []
    closed = []
    for offset, draft in enumerate(drafts):
        row = _issued_row(draft, rules, number + offset, as_of, now)
        rows.append((row, draft.lines))
        item = draft.item
        closed.append(
            ClosedInvoice(
                row["id"],
                row["number"],
                item.customer_id,
                item.period.start,
                item.period.end,
                rules.currency,
                row["total"],
                draft.corrections,
            )
        )
    lifecycle.issue(session, rows, now)
    return closed


def _add_corrections(
    session: Session,
    drafts: Sequence[Draft],
    marks: dict[tuple[str, datetime], int],
    as_of: datetime,
    currency: str,
) -> tuple[list[tuple[str, datetime, int]], int]:
    """Append the correction lines of every earlier period marked stale; the marks to clear
    (at the generation read before measuring) and the number of periods corrected.

    A period billed in another currency (the customer changed to a plan in another
    currency) is left marked: its lines cannot be added to an invoice in this one.
    """
    cleared: list[tuple[str, datetime, int]] = []
    corrected = 0
    period_start = drafts[0].item.period.start if drafts else None
    marked = {customer for customer, start in marks if start != period_start}
    wanted = [d for d in drafts if d.item.customer_id in marked]
    if not wanted:
        return cleared, corrected
    earlier = repository.invoices_of_periods(
        session,
        [(c, start) for c, start in marks if c in marked and start != period_start],
    )
    rules: dict[str, RuleFile] = {}
    for draft in wanted:
        customer_id = draft.item.customer_id
        for invoice in earlier.get(customer_id, []):
            generation = marks[(customer_id, invoice.period_start)]
            if invoice.status == InvoiceStatus.VOID.value:
                cleared.append((customer_id, invoice.period_start, generation))
                continue
            if invoice.currency != currency:
                continue
            if invoice.plan_version_id not in rules:
                rules[invoice.plan_version_id] = rules_of(session, invoice.plan_version_id)
            correction = correct_period(session, invoice, rules[invoice.plan_version_id], as_of)
            draft.lines.extend(correction.lines)
            draft.corrections += 1 if correction.lines else 0
            corrected += 1 if correction.lines else 0
            if not correction.pending:
                cleared.append((customer_id, invoice.period_start, generation))
    return cleared, corrected


def _issued_row(
    draft: Draft, rules: RuleFile, number: int, as_of: datetime, now: datetime
) -> dict[str, Any]:
    """The invoice of a draft (numbered, due) as a row with every column but the status ones,
    which `lifecycle.issue` adds: a batch is COPYed in, which bypasses column defaults."""
    item, customer = draft.item, draft.customer
    start, end = item.period.start, item.period.end
    if draft.kind == InvoiceKind.INTERIM:
        start = end = as_of
    method = customer.collection_method
    due_at = None
    if method == CollectionMethod.SEND_INVOICE.value:
        due_at = now + timedelta(days=customer.days_until_due)
    return {
        "id": draft.invoice_id,
        "vendor_id": item.vendor_id,
        "customer_id": item.customer_id,
        "subscription_id": item.subscription_id,
        "plan_version_id": item.plan_version_id,
        "number": number,
        "kind": draft.kind.value,
        "currency": rules.currency,
        "period_start": start,
        "period_end": end,
        "as_of": as_of,
        "total": sum((line.amount for line in draft.lines), Decimal(0)),
        "collection_method": method,
        "due_at": due_at,
        "created_at": now,
        "updated_at": now,
    }
