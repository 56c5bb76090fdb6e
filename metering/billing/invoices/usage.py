"""Measured usage of a period straight from outcome rows: one aggregate query per batch.

Billing measures the rows of a period that are billable as of `as_of` (`BILLABLE` in
`metering.ledger.states`: counted at that instant, by the row's counted span, and settled),
so what happened after `as_of` does not count yet, however late the close runs. Count, sum,
max and unique are SQL aggregates over the rows still counting at `as_of`
(`STILL_COUNTING`), grouped by customer and outcome, split into what bills, what is still
pending, and what changes after `as_of` (`CHANGES_AFTER`: the close keeps that period
stale, so the next close corrects it); the same query collects the ids of the rows billed
(the invoice line keeps them). `latest` is one ordered query; percentage charges read
per-event values from one ordered stream per batch (`metering.billing.invoices.values`).

SQLite has no decimal type (values are stored as REAL): its values are read as the
shortest decimal that round-trips (`Decimal(repr(x))`), and sums go through an exact
Python aggregate, so both databases measure what the pure core measures.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.value_sums import PerEventCharges, amount_sum, per_event_charges
from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.ledger.tallies.repository import StoredTotals, tallied_columns
from metering.platform.db.members import one_of
from metering.platform.db.types import exact_decimal
from pricing_rules.charges import PerEventSums
from pricing_rules.charges.percentage import PercentageCharge
from pricing_rules.measures import Latest, Max, Sum, Unique
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)
OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]


OutcomeIds = Sequence[int] | str
"""Row ids: a list, or PostgreSQL's array text `{1,2,3}` passed back to COPY unparsed (a
close reads and writes a million of them; parsing and dumping them cost more than the query).
"""


@dataclass(slots=True)
class OutcomeTally:
    """One customer's outcome in one period: what counts as of `as_of`, and what waits."""

    billable: int = 0
    total: Decimal = ZERO
    largest: Decimal = ZERO
    distinct: int = 0
    latest: Decimal = ZERO
    ids: OutcomeIds = ()
    pending: int = 0
    next_settles_at: datetime | None = None
    changes_after: int = 0
    """Rows whose billing changes after `as_of` (known now): the period needs correcting."""
    groups: dict[str | None, OutcomeTally] = field(default_factory=dict)
    """The tally of each value of the outcome's `group_by` path, when a charge groups it."""
    sums: dict[int, PerEventSums] = field(default_factory=dict)
    """Charge index -> the figures of the per-event charge pricing this outcome, when measured
    `summed` (`metering.billing.invoices.value_sums`)."""

    @property
    def unsettled(self) -> bool:
        """The period may bill otherwise later: pending rows, or changes after `as_of`."""
        return bool(self.pending or self.changes_after)


def id_list(ids: OutcomeIds) -> list[int]:
    """The ids as a list, whichever form they came in."""
    if not isinstance(ids, str):
        return list(ids)
    inner = ids.strip("{}")
    return [int(i) for i in inner.split(",")] if inner else []


def id_count(ids: OutcomeIds) -> int:
    """How many ids, without parsing array text into integers."""
    if not isinstance(ids, str):
        return len(ids)
    inner = ids.strip("{}")
    return inner.count(",") + 1 if inner else 0


def id_array_text(ids: OutcomeIds) -> str:
    """The ids as PostgreSQL array text."""
    if isinstance(ids, str):
        return ids
    return "{" + ",".join(map(str, ids)) + "}"


Tallies = dict[str, dict[str, OutcomeTally]]
"""customer id -> outcome name -> tally."""


class _ExactSum:
    """SQLite aggregate: the exact decimal sum of REAL values, as text."""

    def __init__(self) -> None:
        self.total = ZERO

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += exact_decimal(value)

    def finalize(self) -> str:
        return str(self.total)


def raw_value(expression: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The driver's value, without the column type's conversion (see `exact_decimal`)."""
    return sa.type_coerce(expression, sa.types.NullType())


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def exact_sum(session: Session, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if _is_postgres(session):
        return sa.func.sum(column)
    driver = session.connection().connection.driver_connection
    driver.create_aggregate("exact_sum", 1, _ExactSum)  # type: ignore[union-attr]
    return sa.func.exact_sum(column)


def _ids(
    session: Session, column: sa.ColumnElement[Any], where: sa.ColumnElement[bool]
) -> sa.ColumnElement[Any]:
    if _is_postgres(session):
        return sa.cast(sa.func.array_agg(column).filter(where), sa.Text)
    return sa.func.json_group_array(column).filter(where)


def _read_ids(raw: str | None) -> OutcomeIds:
    if raw is None:
        return ()
    if raw.startswith("["):
        return [int(i) for i in json.loads(raw)]
    return raw


def _hash_aggregates(session: Session) -> None:
    """Give this transaction room to aggregate in memory: grouping a period's rows by
    customer and outcome otherwise sorts them on disk, which doubles the close."""
    if _is_postgres(session):
        session.execute(sa.text("SELECT set_config('work_mem', '64MB', true)"))


def _period_of(
    customer_ids: Collection[str], period_start: datetime
) -> list[sa.ColumnElement[bool]]:
    t = OUTCOMES.c
    return [t.period_start == period_start, one_of(t.customer_id, sorted(customer_ids))]


def scope(
    customer_ids: Collection[str], period_start: datetime, as_of: datetime
) -> list[sa.ColumnElement[bool]]:
    """The rows of these customers' period still counting at `as_of`, settled or not."""
    return [states.STILL_COUNTING.sql(OUTCOMES.c, as_of), *_period_of(customer_ids, period_start)]


def billable_scope(
    customer_ids: Collection[str], period_start: datetime, as_of: datetime
) -> list[sa.ColumnElement[bool]]:
    """The rows of these customers' period that bill as of `as_of`."""
    return [states.BILLABLE.sql(OUTCOMES.c, as_of), *_period_of(customer_ids, period_start)]


def measure_tallies(
    session: Session,
    rules: RuleFile,
    customer_ids: Collection[str],
    period_start: datetime,
    as_of: datetime,
    with_ids: bool = True,
    stored: StoredTotals | None = None,
) -> Tallies:
    """Every outcome of `customer_ids` in the period starting at `period_start`.

    Only an invoice keeps the ids of its rows: live figures leave them out (`with_ids`),
    which spares aggregating and reading a list as long as the period's outcomes. A close
    also gathers the rows and units of each tallied state into `stored` from the same
    aggregate (the outcome side of its tally check, `metering.ledger.tallies`).
    """
    instants = [as_of]
    return measure_tallies_at(
        session, rules, customer_ids, period_start, instants, with_ids, stored=stored
    )[0]


def measure_tallies_at(
    session: Session,
    rules: RuleFile,
    customer_ids: Collection[str],
    period_start: datetime,
    instants: Sequence[datetime],
    with_ids: bool = False,
    summed: bool = False,
    stored: StoredTotals | None = None,
) -> list[Tallies]:
    """`measure_tallies` as of each of `instants`, from one aggregate over the period's rows:
    each instant's figures are the aggregates filtered by its own predicates, over the rows
    still counting at the earliest (which holds those of every later instant), so each is
    exactly what measuring as of that instant alone gives. With `summed`, the same aggregate
    adds up the per-event charges (`OutcomeTally.sums`), which then need no values."""
    if not customer_ids:
        return [{} for _ in instants]
    _hash_aggregates(session)
    every: list[Tallies] = [{} for _ in instants]
    grouped = rules.group_paths
    per_event = per_event_charges(rules) if summed else []
    for (customer_id, outcome, value), counted in _tally_rows(
        session,
        rules,
        customer_ids,
        period_start,
        instants,
        with_ids,
        bool(grouped),
        per_event,
        stored,
    ):
        if stored is not None and not any(
            t.billable or t.pending or t.changes_after for t in counted
        ):
            continue  # only rows `stored` asked for, none still counting
        for tallies, tally in zip(every, counted, strict=True):
            outcomes = tallies.setdefault(customer_id, {})
            if outcome not in grouped:
                outcomes[outcome] = tally  # its rows have no dimension: one row per outcome
                continue
            whole = outcomes.setdefault(outcome, OutcomeTally(largest=tally.largest))
            whole.groups[value] = tally
            _add_group(whole, tally)
    distinct = [o for o in grouped if isinstance(rules.outcomes[o].measure, Unique)]
    if distinct:  # distinct values do not add up over groups: count them once more
        for (customer_id, outcome, _), counted in _tally_rows(
            session, rules, customer_ids, period_start, instants, False, False, [], None, distinct
        ):
            for tallies, tally in zip(every, counted, strict=True):
                tallies[customer_id][outcome].distinct = tally.distinct
    latest = [name for name, spec in rules.outcomes.items() if isinstance(spec.measure, Latest)]
    if latest:
        for tallies, as_of in zip(every, instants, strict=True):
            _add_latest(session, tallies, customer_ids, period_start, as_of, latest)
    return every


def _add_group(whole: OutcomeTally, group: OutcomeTally) -> None:
    """Add one dimension's tally to its outcome's (ids joined in the form they came in)."""
    whole.billable += group.billable
    whole.total += group.total
    whole.largest = max(whole.largest, group.largest)
    whole.pending += group.pending
    whole.changes_after += group.changes_after
    if group.next_settles_at is not None and (
        whole.next_settles_at is None or group.next_settles_at < whole.next_settles_at
    ):
        whole.next_settles_at = group.next_settles_at
    if isinstance(whole.ids, str) or isinstance(group.ids, str):
        inner = [id_array_text(i).strip("{}") for i in (whole.ids, group.ids)]
        whole.ids = "{" + ",".join(part for part in inner if part) + "}"
    else:
        whole.ids = [*whole.ids, *group.ids]
    for index, sums in group.sums.items():
        found = whole.sums.get(index, PerEventSums())
        whole.sums[index] = PerEventSums(
            found.events + sums.events, found.value + sums.value, found.amount + sums.amount
        )


def _tally_rows(
    session: Session,
    rules: RuleFile,
    customer_ids: Collection[str],
    period_start: datetime,
    instants: Sequence[datetime],
    with_ids: bool,
    by_dimension: bool,
    per_event: PerEventCharges,
    stored: StoredTotals | None = None,
    outcomes: list[str] | None = None,
) -> Iterator[tuple[tuple[str, str, str | None], list[OutcomeTally]]]:
    """One aggregate by customer and outcome, and by dimension (the value of the outcome's
    `group_by` path, None for an outcome without one) when asked; of `outcomes` only when
    given; with the sums of the `per_event` charges. A tally per instant, each from the
    aggregates filtered as of it. With `stored`, the aggregate also takes in the rows in a
    tallied state and adds up their rows and units into it: a group of only such rows has
    tallies of zeros (billable, pending and changing after none), which the caller skips."""
    t = OUTCOMES.c
    measures = [spec.measure for spec in rules.outcomes.values()]
    columns: list[sa.ColumnElement[Any]] = [t.customer_id, t.outcome]
    for n, as_of in enumerate(instants):
        settled = states.BILLABLE.sql(t, as_of)
        waiting = states.PENDING.sql(t, as_of)
        columns += [
            sa.func.count().filter(settled).label(f"billable_{n}"),
            sa.func.count().filter(waiting).label(f"pending_{n}"),
            sa.func.min(t.settles_at).filter(waiting).label(f"next_settles_at_{n}"),
            sa.func.count().filter(states.CHANGES_AFTER.sql(t, as_of)).label(f"changes_after_{n}"),
        ]
        if with_ids:
            columns.append(_ids(session, t.id, settled).label(f"ids_{n}"))
        if any(isinstance(m, Sum) for m in measures):
            columns.append(
                raw_value(exact_sum(session, t.value).filter(settled)).label(f"total_{n}")
            )
        if any(isinstance(m, Max) for m in measures):
            columns.append(raw_value(sa.func.max(t.value).filter(settled)).label(f"largest_{n}"))
        if any(isinstance(m, Unique) for m in measures):
            columns.append(
                sa.func.count(sa.distinct(t.value_text)).filter(settled).label(f"distinct_{n}")
            )
        for index, charge in per_event:
            amounts = amount_sum(session, charge, index, t.value)
            valued = sa.and_(settled, t.outcome == charge.valued_outcome)
            columns.append(raw_value(amounts.filter(valued)).label(f"amounts_{index}_{n}"))
    keys: list[sa.ColumnElement[Any]] = [t.customer_id, t.outcome]
    where = scope(customer_ids, period_start, min(instants))
    extra: list[sa.ColumnElement[Any]] = []
    if stored is not None:
        counting, *period = where
        where = [sa.or_(counting, t.state.in_([str(s) for s in states.TALLIED])), *period]
        extra = tallied_columns(t)
        columns += extra
    if by_dimension:
        keys.append(t.dimension)
        columns.append(t.dimension)
    if outcomes is not None:
        where.append(t.outcome.in_(outcomes))
    statement = sa.select(*columns).where(*where).group_by(*keys)
    result = session.execute(statement)
    column_at = {name: position for position, name in enumerate(result.keys())}
    # Positions, not names: a name looked up per row per column costs as much as the query.
    fields = [
        "billable",
        "ids",
        "pending",
        "next_settles_at",
        "changes_after",
        "total",
        "largest",
        "distinct",
    ]
    wanted = [[column_at.get(f"{name}_{n}") for name in fields] for n in range(len(instants))]
    summing = [
        [(i, charge, column_at[f"amounts_{i}_{n}"]) for i, charge in per_event]
        for n in range(len(instants))
    ]
    tallied = [column_at[column.name] for column in extra]
    dimension = column_at.get("dimension")
    for row in result:
        counted = [
            _tally_of(row, positions, sums) for positions, sums in zip(wanted, summing, strict=True)
        ]
        if stored is not None:
            stored.add(row[0], row[1], [row[position] for position in tallied])
        yield (row[0], row[1], None if dimension is None else row[dimension]), counted


def _tally_of(
    row: Sequence[Any],
    positions: Sequence[int | None],
    sums: Sequence[tuple[int, PercentageCharge, int]] = (),
) -> OutcomeTally:
    """The tally as of one instant from an aggregate row, its columns at `positions`
    (billable, ids, pending, next settle, changes after, total, largest, distinct; None for
    a column the query left out), and the per-event charges' sums at theirs (`sums`: the
    charge's index, the charge, the column)."""
    values: list[Any] = [None if position is None else row[position] for position in positions]
    billable, ids, pending, next_settles_at, changes_after, total, largest, distinct = values
    tally = OutcomeTally(
        billable=billable,
        ids=_read_ids(ids),
        pending=pending,
        next_settles_at=next_settles_at,
        changes_after=changes_after,
    )
    if total is not None:
        tally.total = exact_decimal(total)
    if largest is not None:
        tally.largest = exact_decimal(largest)
    if distinct is not None:
        tally.distinct = distinct
    for i, charge, position in sums:
        if charge.valued_outcome == row[1]:
            amount = row[position]  # its outcome sums its values: `total`
            tally.sums[i] = PerEventSums(
                tally.billable, tally.total, ZERO if amount is None else exact_decimal(amount)
            )
    return tally


def _add_latest(
    session: Session,
    tallies: Tallies,
    customer_ids: Collection[str],
    period_start: datetime,
    as_of: datetime,
    outcomes: list[str],
) -> None:
    """The value of the last row by (occurred_at, event id), as the core orders them, of
    each outcome and of each value of a grouped one."""
    t = OUTCOMES.c
    event_id: sa.ColumnElement[Any] = t.event_id
    if _is_postgres(session):
        event_id = sa.collate(event_id, "C")  # code point order, as Python compares
    order = (t.occurred_at.desc(), event_id.desc())
    ranked = (
        sa.select(
            t.customer_id,
            t.outcome,
            t.dimension,
            raw_value(t.value).label("value"),
            sa.func.row_number()
            .over(partition_by=(t.customer_id, t.outcome), order_by=order)
            .label("rank"),
            sa.func.row_number()
            .over(partition_by=(t.customer_id, t.outcome, t.dimension), order_by=order)
            .label("group_rank"),
        )
        .where(*billable_scope(customer_ids, period_start, as_of), t.outcome.in_(outcomes))
        .subquery()
    )
    r = ranked.c
    statement = sa.select(r.customer_id, r.outcome, r.dimension, r.value, r.rank).where(
        sa.or_(r.rank == 1, r.group_rank == 1)
    )
    for customer_id, outcome, dimension, value, rank in session.execute(statement):
        tally = tallies.get(customer_id, {}).get(outcome)
        if tally is None or value is None:
            continue
        if rank == 1:
            tally.latest = exact_decimal(value)
        group = tally.groups.get(dimension)
        if group is not None:
            group.latest = exact_decimal(value)


def quantity_of(rules: RuleFile, outcome: str, tally: OutcomeTally) -> Decimal:
    """The measured quantity the rule file asks for (count, sum, max, latest, unique)."""
    measure = rules.outcomes[outcome].measure
    if isinstance(measure, Sum):
        return tally.total
    if isinstance(measure, Max):
        return tally.largest
    if isinstance(measure, Latest):
        return tally.latest
    if isinstance(measure, Unique):
        return Decimal(tally.distinct)
    return Decimal(tally.billable)
