"""Corrections of a closed period: credit and adjustment lines on the customer's next invoice.

An issued invoice is never edited. When outcomes of its period change afterwards (a
reversal, a voided event, a late event, an outcome that settled after the close), the
period is marked stale and the customer's next close compares, charge by charge:

- billed: the amounts of every line already billed for the period (its invoice and earlier
  corrections), and per outcome the rows those lines still count;
- current: the rows of the period billable as of this close's instant
  (`metering.ledger.states`: what takes effect after it waits for a later close);
- S1 = billed rows that still count; credit = price(S1) - billed (what no longer counts);
- adjustment = price(current) - price(S1) (what counts now and was not billed).

So the lines of a period always add up to its price as of the latest close, and a credit
names the rows it takes back, an adjustment the rows it adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.billing.commitments.positions import period_position
from metering.billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.billing.invoices.rating import KeyedLine, LineDraft, keyed_lines
from metering.billing.invoices.usage import id_list
from metering.catalog.subscriptions.models import Subscription
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.platform.db.types import exact_decimal
from pricing_rules.commitments import Position
from pricing_rules.periods import Period
from pricing_rules.pricing import MeasuredUsage, price_usage
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    outcome: str
    value: Decimal | None
    value_text: str | None
    occurred_at: datetime
    event_id: str
    dimension: str | None = None


@dataclass(frozen=True, slots=True)
class Correction:
    """The lines correcting one period; `pending`: some of its outcomes have not settled."""

    lines: list[LineDraft]
    pending: bool


@dataclass(slots=True)
class _Billed:
    amounts: dict[str, Decimal]
    quantities: dict[str, Decimal]
    descriptions: dict[str, str]
    ids: dict[str, set[int]]


def _billed(session: Session, customer_id: str, period_start: datetime) -> _Billed:
    """What the customer's lines for the period billed so far (void invoices and `credits`
    lines do not count: `metering.billing.credits.drawdown` settles credits apart)."""
    lines = session.exec(
        select(InvoiceLine)
        .join(Invoice, col(Invoice.id) == col(InvoiceLine.invoice_id))
        .where(
            InvoiceLine.customer_id == customer_id,
            InvoiceLine.period_start == period_start,
            col(Invoice.status) != InvoiceStatus.VOID.value,
            # Credits pay for lines; they are no price of the period.
            col(InvoiceLine.kind) != LineKind.CREDITS.value,
        )
        .order_by(col(Invoice.created_at), col(Invoice.id), col(InvoiceLine.position))
    ).all()
    billed = _Billed({}, {}, {}, {})
    by_invoice: dict[str, list[InvoiceLine]] = {}
    for line in lines:
        by_invoice.setdefault(line.invoice_id, []).append(line)
        key = line.charge_key
        billed.amounts[key] = billed.amounts.get(key, ZERO) + line.amount
        billed.quantities[key] = billed.quantities.get(key, ZERO) + (line.quantity or ZERO)
        billed.descriptions.setdefault(key, line.description)
    for invoice_lines in by_invoice.values():
        removed: dict[str, set[int]] = {}
        added: dict[str, set[int]] = {}
        for line in invoice_lines:
            if line.outcome is None:
                continue
            target = removed if line.kind == LineKind.CREDIT.value else added
            target.setdefault(line.outcome, set()).update(line.outcome_ids)
        for outcome, ids in removed.items():
            billed.ids.get(outcome, set()).difference_update(ids)
        for outcome, ids in added.items():
            billed.ids.setdefault(outcome, set()).update(ids)
    return billed


def current_rows(
    session: Session, customer_id: str, period_start: datetime, as_of: datetime
) -> tuple[list[_Row], bool]:
    """Rows of the period billable as of `as_of`, and whether it may bill otherwise later
    (rows pending, or changing after `as_of`): one read of the rows still counting, split
    in memory by the same rules."""
    t = Outcome.__table__.c  # type: ignore[attr-defined]
    statement = sa.select(
        t.id,
        t.outcome,
        sa.type_coerce(t.value, sa.types.NullType()),
        t.value_text,
        t.occurred_at,
        t.event_id,
        t.settles_at,
        t.counted_from,
        t.counted_until,
        t.dimension,
    ).where(
        t.customer_id == customer_id,
        t.period_start == period_start,
        states.STILL_COUNTING.sql(t, as_of),
    )
    rows: list[_Row] = []
    pending = False
    for row in session.execute(statement):
        if states.CHANGES_AFTER.holds(row, as_of):
            pending = True
        if not states.BILLABLE.holds(row, as_of):
            pending = pending or states.PENDING.holds(row, as_of)
            continue
        number = None if row.value is None else exact_decimal(row.value)
        rows.append(
            _Row(
                row.id,
                row.outcome,
                number,
                row.value_text,
                row.occurred_at,
                row.event_id,
                row.dimension,
            )
        )
    return rows, pending


def usage_of_rows(rules: RuleFile, rows: Iterable[_Row]) -> dict[str, MeasuredUsage]:
    """Measure rows in memory with the core's own accumulators."""
    grouped: dict[str, list[_Row]] = {}
    for row in rows:
        if row.outcome in rules.outcomes:
            grouped.setdefault(row.outcome, []).append(row)
    by_value = rules.group_paths
    usage: dict[str, MeasuredUsage] = {}
    for outcome, members in grouped.items():
        usage[outcome] = _measure(rules, outcome, members)
        if outcome in by_value:
            groups: dict[str | None, list[_Row]] = {}
            for row in members:
                groups.setdefault(row.dimension, []).append(row)
            usage[outcome] = replace(
                usage[outcome],
                groups={value: _measure(rules, outcome, rows) for value, rows in groups.items()},
            )
    return usage


def _measure(rules: RuleFile, outcome: str, members: list[_Row]) -> MeasuredUsage:
    accumulator = rules.outcomes[outcome].measure.accumulator()
    values: list[Decimal] = []
    for row in members:
        value: Any = row.value_text if row.value is None else row.value
        accumulator.add(value, row.occurred_at, row.event_id)
        if row.value is not None:
            values.append(row.value)
    return MeasuredUsage(
        quantity=accumulator.result(), events=len(members), values=_returning(values)
    )


def _dimensions(session: Session, ids: Iterable[int]) -> dict[int, str | None]:
    """The `group_by` value of each row, for the rows a grouped correction line names."""
    wanted = sorted(ids)
    t = Outcome.__table__.c  # type: ignore[attr-defined]
    found: dict[int, str | None] = {}
    for start in range(0, len(wanted), 10_000):
        chunk = wanted[start : start + 10_000]
        found.update(session.execute(sa.select(t.id, t.dimension).where(t.id.in_(chunk))).all())
    return found


def _returning(values: list[Decimal]) -> Callable[[], Iterable[Decimal]]:
    return lambda: values


def _ordered_keys(*sources: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for source in sources:
        for key in source:
            seen.setdefault(key, None)
    return list(seen)


def correct_period(
    session: Session,
    invoice: Invoice,
    rules: RuleFile,
    as_of: datetime,
) -> Correction:
    """The credit and adjustment lines that bring `invoice`'s period to its price now."""
    billed = _billed(session, invoice.customer_id, invoice.period_start)
    rows, pending = current_rows(session, invoice.customer_id, invoice.period_start, as_of)
    current_ids: dict[str, set[int]] = {}
    for row in rows:
        current_ids.setdefault(row.outcome, set()).add(row.id)
    kept = {outcome: ids & current_ids.get(outcome, set()) for outcome, ids in billed.ids.items()}
    removed = {o: ids - kept.get(o, set()) for o, ids in billed.ids.items()}
    added = {o: ids - kept.get(o, set()) for o, ids in current_ids.items()}
    kept_rows = [row for row in rows if row.id in kept.get(row.outcome, ())]
    position = _position(session, invoice, rules, as_of)
    before = {
        line.key: line
        for line in keyed_lines(
            rules, price_usage(rules, usage_of_rows(rules, kept_rows), position)
        )
    }
    after = {
        line.key: line
        for line in keyed_lines(rules, price_usage(rules, usage_of_rows(rules, rows), position))
    }
    keys = _ordered_keys(before, after, billed.amounts)
    period = Period(invoice.period_start, invoice.period_end, None, rules.billing.timezone)
    dimensions: dict[int, str | None] = {}
    if rules.group_paths:
        dimensions = {row.id: row.dimension for row in rows}
        dimensions.update(_dimensions(session, set().union(*removed.values()) - set(dimensions)))
    credits = _Difference(
        LineKind.CREDIT,
        f"Correction of invoice {_number(invoice)}",
        before,
        after,
        removed,
        dimensions,
    )
    adjustments = _Difference(
        LineKind.ADJUSTMENT, f"Adjustment for {period.label}", after, before, added, dimensions
    )
    lines = credits.lines(keys, billed.amounts, billed.quantities, billed, invoice)
    lines += adjustments.lines(
        keys,
        {key: line.amount for key, line in before.items()},
        {key: line.quantity for key, line in before.items()},
        billed,
        invoice,
    )
    lines = _net_commitment(lines, credits, adjustments)
    return Correction(_net_invoice_level(lines, credits, adjustments), pending)


def rest_after_interim(
    session: Session, interim: Invoice, period: Period, rules: RuleFile, as_of: datetime
) -> list[LineDraft]:
    """What a period with an interim invoice still owes: its price as of `as_of` less what
    its lines billed, charge by charge (a credit where a tier reached since lowers it)."""
    billed = Invoice.model_validate(
        {**interim.model_dump(), "period_start": period.start, "period_end": period.end}
    )
    return correct_period(session, billed, rules, as_of).lines


def _position(
    session: Session, invoice: Invoice, rules: RuleFile, as_of: datetime
) -> Position | None:
    """The period's position in its commitment term as of this close: an earlier period of
    the term corrected in the same close moves it, so the split at the crossing moves with
    it (its committed and overage lines are corrected like any charge)."""
    if rules.commitment is None:
        return None
    subscription = session.get(Subscription, invoice.subscription_id)
    if subscription is None:
        return None
    found = period_position(
        session,
        rules,
        invoice.customer_id,
        subscription.plan_id,
        (invoice.period_start, invoice.period_end),
        as_of,
        with_ids=False,
    )
    return found.position if found else None


def _net_commitment(
    lines: list[LineDraft], credits: _Difference, adjustments: _Difference
) -> list[LineDraft]:
    """One line per commitment line (committed, overage) when the crossing moved.

    A period whose position in the term moved (an earlier period of the term changed) gets
    a credit and an adjustment of the same commitment line that partly cancel, and a
    "credit" that adds money; they are netted into one line per key: a credit taking money
    back (naming the rows taken back) or an adjustment adding some (naming the rows added).
    Kept as they are when netting would leave taken-back or added rows unnamed.
    """
    moved = [line for line in lines if line.charge_key.startswith("commitment:")]
    moved_ids = {id(line) for line in moved}
    if not moved:
        return lines
    totals: dict[str, Decimal] = {}
    for line in moved:
        totals[line.charge_key] = totals.get(line.charge_key, ZERO) + line.amount
    removed = {i for m in moved if m.kind == credits.kind.value for i in id_list(m.outcome_ids)}
    added = {i for m in moved if m.kind != credits.kind.value for i in id_list(m.outcome_ids)}
    kinds = {key: credits if total < 0 else adjustments for key, total in totals.items() if total}
    if (removed and credits not in kinds.values()) or (added and adjustments not in kinds.values()):
        return lines
    netted: list[LineDraft] = []
    done: set[str] = set()
    for line in lines:
        key = line.charge_key
        if id(line) not in moved_ids:
            netted.append(line)
            continue
        if key in done or key not in kinds:
            continue
        done.add(key)
        source = kinds[key]
        own = credits if line.kind == credits.kind.value else adjustments
        quantity = sum((m.quantity or ZERO for m in moved if m.charge_key == key), ZERO)
        netted.append(
            replace(
                line,
                kind=source.kind.value,
                description=f"{source.title}: {line.description.removeprefix(f'{own.title}: ')}",
                amount=totals[key],
                quantity=quantity,
                outcome_ids=sorted(removed if source is credits else added),
            )
        )
    return netted


def _net_invoice_level(
    lines: list[LineDraft], credits: _Difference, adjustments: _Difference
) -> list[LineDraft]:
    """One line per charge that counts no outcomes (minimum, cap, flat fee).

    When a period got both a credit and an adjustment, such a charge can move both ways (a
    true-up that a credit raises and an adjustment lowers again): those two lines name no
    outcome, so they are netted into one, a credit when it takes money back, an adjustment
    when it adds some, or nothing when they cancel out.
    """
    totals: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    for line in lines:
        if line.outcome is None:
            totals[line.charge_key] = totals.get(line.charge_key, ZERO) + line.amount
            counts[line.charge_key] = counts.get(line.charge_key, 0) + 1
    netted: list[LineDraft] = []
    done: set[str] = set()
    for line in lines:
        key = line.charge_key
        if line.outcome is not None or counts[key] == 1:
            netted.append(line)
            continue
        if key in done or not totals[key]:
            continue
        done.add(key)
        own = credits if line.kind == credits.kind.value else adjustments
        name = line.description.removeprefix(f"{own.title}: ")
        source = credits if totals[key] < 0 else adjustments
        netted.append(
            replace(
                line,
                kind=source.kind.value,
                description=f"{source.title}: {name}",
                amount=totals[key],
            )
        )
    return netted


@dataclass(frozen=True, slots=True)
class _Difference:
    """Lines bringing what was counted (`base`) to the price `target`, charge by charge."""

    kind: LineKind
    title: str
    target: dict[str, KeyedLine]
    other: dict[str, KeyedLine]
    ids: dict[str, set[int]]
    dimensions: dict[int, str | None]

    def lines(
        self,
        keys: Sequence[str],
        base_amounts: dict[str, Decimal],
        base_quantities: dict[str, Decimal],
        billed: _Billed,
        invoice: Invoice,
    ) -> list[LineDraft]:
        drafts = []
        for key in keys:
            line = self.target.get(key) or self.other.get(key)
            found = self.target.get(key)
            amount = (found.amount if found else ZERO) - base_amounts.get(key, ZERO)
            if not amount:
                continue
            quantity = None
            outcome = line.outcome if line else None
            if outcome is not None:
                quantity = (found.quantity if found else ZERO) - base_quantities.get(key, ZERO)
            description = line.description if line else billed.descriptions.get(key, key)
            drafts.append(
                LineDraft(
                    kind=self.kind.value,
                    charge_key=key,
                    description=f"{self.title}: {description}",
                    outcome=outcome,
                    quantity=quantity,
                    amount=amount,
                    period_start=invoice.period_start,
                    period_end=invoice.period_end,
                    detail=_correction_detail(key, line),
                    outcome_ids=self._ids(line) if outcome else [],
                    corrects_invoice_id=invoice.id,
                )
            )
        return drafts

    def _ids(self, line: KeyedLine | None) -> list[int]:
        """The rows a line takes back or adds: its outcome's, or only its value's."""
        if line is None or line.outcome is None:
            return []
        ids = self.ids.get(line.outcome, set())
        if line.group is not None:
            ids = {i for i in ids if self.dimensions.get(i) == line.group.value}
        return sorted(ids)


def _correction_detail(key: str, line: KeyedLine | None) -> dict[str, Any]:
    """What a correction corrects: its charge key, and the `group_by` value of its line."""
    detail: dict[str, Any] = {"corrects": key}
    if line is not None and "group" in line.detail:
        detail["group"] = line.detail["group"]
    return detail


def _number(invoice: Invoice) -> str:
    return f"#{invoice.number}" if invoice.number is not None else invoice.id
