"""Keeping the tallies: deltas from outcome-row writes, reads for the allowance check.

Every writer of an outcome row's state goes through `metering.ledger.outcomes.repository`,
which hands the rows it adds and takes away here, in its own transaction. A tally row is
(customer, outcome, period, state, settle hour); only the states `TALLIED` are kept.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.ledger.outcomes.models import Outcome
from metering.ledger.states import COUNTED, OVER_LIMIT, TALLIED
from metering.ledger.tallies.models import OutcomeTally
from metering.platform.db import bulk
from metering.platform.db.types import UTCDateTime, exact_decimal

TABLE: sa.Table = OutcomeTally.__table__  # type: ignore[attr-defined]
OUTCOMES: sa.Table = Outcome.__table__  # type: ignore[attr-defined]
ONE = Decimal(1)
Bucket = tuple[str, str, str, datetime, str, datetime]
"""vendor, customer, outcome, period start, state, settles by."""


def settles_by(settles_at: datetime) -> datetime:
    """The settle time rounded up to the hour: a bucket is settled once its hour has passed."""
    hour = settles_at.replace(minute=0, second=0, microsecond=0)
    return hour if hour == settles_at else hour + timedelta(hours=1)


def row_units(value: Decimal | None) -> Decimal:
    """What one row adds to its outcome's units: its value for a summed measure, else 1."""
    return ONE if value is None else value


_BUCKET_FIELDS = (
    "state",
    "vendor_id",
    "customer_id",
    "outcome",
    "period_start",
    "settles_at",
    "value",
)


class Deltas:
    """Tally changes gathered over one write, applied in one statement."""

    def __init__(self) -> None:
        self.changes: dict[Bucket, list[Any]] = {}

    def add(self, row: Mapping[str, Any] | Outcome, sign: int) -> None:
        if not isinstance(row, Mapping):
            row = {name: getattr(row, name) for name in _BUCKET_FIELDS}
        state = row["state"]
        if state not in TALLIED:
            return
        bucket = (
            row["vendor_id"],
            row["customer_id"],
            row["outcome"],
            row["period_start"],
            str(state),
            settles_by(row["settles_at"]),
        )
        found = self.changes.get(bucket)
        if found is None:
            found = self.changes[bucket] = [Decimal(0), 0]
        found[0] += sign * row_units(row["value"])
        found[1] += sign

    def apply(self, session: Session) -> None:
        rows = [
            {
                "vendor_id": vendor,
                "customer_id": customer,
                "outcome": outcome,
                "period_start": start,
                "state": state,
                "settles_by": by,
                "units": units,
                "rows": count,
            }
            for (vendor, customer, outcome, start, state, by), (units, count) in sorted(
                self.changes.items(), key=lambda item: item[0][1:]
            )
            if count or units
        ]
        self.changes = {}
        key = ("customer_id", "period_start", "outcome", "state", "settles_by")
        bulk.add_rows(session, TABLE, rows, key, ("units", "rows"))


def rows_by_id(session: Session, ids: Collection[int]) -> list[Outcome]:
    """The stored rows about to change, as they are before the change."""
    ordered = list(ids)
    found: list[Outcome] = []
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        statement = select(Outcome).where(col(Outcome.id).in_(chunk))
        # Rows changed in bulk by id earlier in this transaction: read them as stored.
        found += session.exec(statement.execution_options(populate_existing=True)).all()
    return found


@dataclass(frozen=True, slots=True)
class PeriodTally:
    """One outcome's counted units and rows in a period, split by settled now or not."""

    settled_units: Decimal = Decimal(0)
    pending_units: Decimal = Decimal(0)
    settled_rows: int = 0
    pending_rows: int = 0
    over_limit_rows: int = 0

    @property
    def units(self) -> Decimal:
        return self.settled_units + self.pending_units

    @property
    def rows(self) -> int:
        return self.settled_rows + self.pending_rows


IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
NOW = sa.bindparam("now", type_=UTCDateTime)
HOUR_BEGAN = sa.bindparam("hour_began", type_=UTCDateTime)
PERIOD_START = sa.bindparam("period_start", type_=UTCDateTime)


def tally_params(customer_ids: Collection[str], now: datetime) -> dict[str, Any]:
    """The parameters of `tally_selects` (and `PERIOD_START` when it is fixed)."""
    hour_began = now.replace(minute=0, second=0, microsecond=0)
    return {"ids": sorted(set(customer_ids)), "now": now, "hour_began": hour_began}


@functools.cache
def tally_selects(latest: bool) -> tuple[sa.Select[Any], ...]:
    """Selects of (customer id, outcome, period start, settled units, pending units,
    settled rows, pending rows, over_limit rows) of the customers `IDS`, exact as of `NOW`
    (`settles_at <= now`) once the rows of one (customer, outcome, period) are added up
    (`fold`); parameters from `tally_params`. Built once: only the parameters change.

    The period is `PERIOD_START`, or with `latest` each customer's latest period started by
    `NOW` (the open one, if it has any outcome: the caller checks the start).

    The tally buckets settle by the hour: those whose hour has passed are settled, the
    others pending. Only the bucket of the hour under way holds rows of both kinds, so the
    counted rows in it whose settle time has passed (at most an hour of them, by the
    `(customer_id, settles_at)` index) are moved from pending to settled.
    """
    t, o = TABLE.c, OUTCOMES.c
    settled = t.settles_by <= NOW
    counted = t.state != str(OVER_LIMIT.state)
    if latest:
        last = TABLE.alias("latest").c
        in_period = t.period_start == (
            sa.select(sa.func.max(last.period_start))
            .where(last.customer_id == t.customer_id, last.period_start <= NOW)
            .scalar_subquery()
        )
        this_hour: list[sa.ColumnElement[bool]] = [o.customer_id.in_(IDS)]
    else:
        in_period = t.period_start == PERIOD_START
        this_hour = [o.customer_id.in_(IDS), o.period_start == PERIOD_START]
    tallied = (
        sa.select(
            t.customer_id,
            t.outcome,
            t.period_start,
            sa.func.sum(sa.case((sa.and_(counted, settled), t.units), else_=0)),
            sa.func.sum(sa.case((sa.and_(counted, ~settled), t.units), else_=0)),
            sa.func.sum(sa.case((sa.and_(counted, settled), t.rows), else_=0)),
            sa.func.sum(sa.case((sa.and_(counted, ~settled), t.rows), else_=0)),
            sa.func.sum(sa.case((~counted, t.rows), else_=0)),
        )
        .where(t.customer_id.in_(IDS), in_period)
        .group_by(t.customer_id, t.outcome, t.period_start)
    )
    units = sa.func.sum(sa.func.coalesce(o.value, 1))
    rows = sa.func.count()
    settled_this_hour = (
        sa.select(
            o.customer_id,
            o.outcome,
            o.period_start,
            units,
            -units,
            rows,
            -rows,
            sa.literal_column("0"),
        )
        .where(
            *this_hour,
            o.settles_at > HOUR_BEGAN,
            o.settles_at <= NOW,
            o.state == str(COUNTED.state),
        )
        .group_by(o.customer_id, o.outcome, o.period_start)
    )
    return tallied, settled_this_hour


def fold(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str, datetime], PeriodTally]:
    """The rows of `tally_selects` added up per (customer, outcome, period start)."""
    found: dict[tuple[str, str, datetime], list[Any]] = {}
    for customer, outcome, start, su, pu, sr, pr, ol in rows:
        into = found.setdefault((customer, outcome, start), [Decimal(0), Decimal(0), 0, 0, 0])
        into[0] += exact_decimal(su or 0)
        into[1] += exact_decimal(pu or 0)
        into[2] += int(sr or 0)
        into[3] += int(pr or 0)
        into[4] += int(ol or 0)
    return {key: PeriodTally(*amounts) for key, amounts in found.items()}


@functools.cache
def _period_statement() -> sa.CompoundSelect[Any]:
    return sa.union_all(*tally_selects(latest=False))


def period_tallies(
    session: Session, customer_ids: Collection[str], period_start: datetime, now: datetime
) -> dict[tuple[str, str], PeriodTally]:
    """Each (customer, outcome)'s tally for the period starting at `period_start`, settled
    exactly as of `now`, in one round trip."""
    params = tally_params(customer_ids, now) | {"period_start": period_start}
    found = fold(session.execute(_period_statement(), params))
    return {(customer, outcome): tally for (customer, outcome, _), tally in found.items()}


_TALLIED_NAMES = sorted(str(s) for s in TALLIED)
Totals = dict[tuple[str, str, str], tuple[int, Decimal]]
"""(customer, outcome, state) -> (rows, units rounded to 6 places), zero groups left out."""


def _totals(rows: Iterable[Sequence[Any]]) -> Totals:
    """Rows of (customer, outcome, state, rows, units), added up per (customer, outcome, state).

    Units are compared rounded: SQLite sums NUMERIC as floats, and a difference below a
    millionth of a unit is float noise, not a drifted tally (a false alarm only costs a
    recount)."""
    added: dict[tuple[str, str, str], list[Any]] = {}
    for customer, outcome, state, count, units in rows:
        into = added.setdefault((customer, outcome, str(state)), [0, Decimal(0)])
        into[0] += int(count or 0)
        into[1] += exact_decimal(units or 0)
    found: Totals = {}
    for key, (count, units) in added.items():
        amount = round(units, 6)
        if count or amount:
            found[key] = (count, amount)
    return found


def tallied_columns(o: Any) -> list[sa.ColumnElement[Any]]:
    """The rows and units of each tallied state, as aggregate columns of a query over a
    period's outcome rows grouped by customer and outcome (or finer) that also takes in every
    row in a `TALLIED` state: the outcome side of `drifted`, which a close reads from the
    aggregate it runs anyway instead of scanning the rows again (`StoredTotals`)."""
    columns: list[sa.ColumnElement[Any]] = []
    for state in _TALLIED_NAMES:
        in_state = o.state == state
        units = sa.func.sum(sa.func.coalesce(o.value, 1)).filter(in_state)
        columns += [
            sa.func.count().filter(in_state).label(f"tallied_rows_{state}"),
            units.label(f"tallied_units_{state}"),
        ]
    return columns


class StoredTotals:
    """The outcome side of `drifted` gathered from the rows of an aggregate with
    `tallied_columns`, one (customer, outcome, ...) group at a time."""

    def __init__(self) -> None:
        self._rows: list[tuple[str, str, str, Any, Any]] = []

    def add(self, customer: str, outcome: str, values: Sequence[Any]) -> None:
        """One group's values of `tallied_columns`, in their order."""
        for n, state in enumerate(_TALLIED_NAMES):
            count, units = values[2 * n], values[2 * n + 1]
            if count:
                self._rows.append((customer, outcome, state, count, units))

    def totals(self) -> Totals:
        return _totals(self._rows)


def _stored_select(ids: list[str], period_start: datetime) -> sa.Select[Any]:
    o = OUTCOMES.c
    return (
        sa.select(
            o.customer_id,
            o.outcome,
            o.state,
            sa.func.count(),
            sa.func.sum(sa.func.coalesce(o.value, 1)),
        )
        .where(
            o.customer_id.in_(ids),
            o.period_start == period_start,
            o.state.in_([str(s) for s in TALLIED]),
        )
        .group_by(o.customer_id, o.outcome, o.state)
    )


def kept_select(ids: list[str], period_start: datetime) -> sa.Select[Any]:
    """The tally side of `drifted`: (customer, outcome, state, rows, units) of the period."""
    t = TABLE.c
    return (
        sa.select(t.customer_id, t.outcome, t.state, sa.func.sum(t.rows), sa.func.sum(t.units))
        .where(t.customer_id.in_(ids), t.period_start == period_start)
        .group_by(t.customer_id, t.outcome, t.state)
    )


KEPT_SQL = (
    "SELECT customer_id, outcome, state, sum(rows), sum(units) FROM outcome_tallies "
    "WHERE customer_id = ANY(%(customers)s) AND period_start = %(period_start)s "
    "GROUP BY customer_id, outcome, state"
)
"""`kept_select` as the PostgreSQL driver takes it (a close reads it on a second
connection, beside its aggregate), with `customers` and `period_start`."""


def drifted(
    session: Session,
    customer_ids: Collection[str],
    period_start: datetime,
    stored: Totals | None = None,
    kept: Iterable[Sequence[Any]] | None = None,
) -> list[str]:
    """The customers whose tallies of this period differ from their outcome rows.

    Two GROUP BYs instead of a recount: ingestion keeps the tallies in step, so a close
    normally finds none and recounts nothing. A close passes the `stored` side from its own
    aggregate and the `kept` rows (of `KEPT_SQL`) read beside it."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    if stored is None:
        stored = _totals(session.execute(_stored_select(ids, period_start)))
    kept_totals = _totals(
        kept if kept is not None else session.execute(kept_select(ids, period_start))
    )
    return sorted(
        {
            key[0]
            for key in stored.keys() | kept_totals.keys()
            if stored.get(key) != kept_totals.get(key)
        }
    )


def reconcile(
    session: Session,
    customer_ids: Collection[str],
    period_start: datetime,
    stored: Totals | None = None,
    kept: Iterable[Sequence[Any]] | None = None,
) -> None:
    """Recount the period of the customers whose tallies drifted from their rows: what a
    close runs, so a tally never drifts for long (`drifted` tells its arguments)."""
    rebuild(session, drifted(session, customer_ids, period_start, stored, kept), period_start)


def _settles_by_sql(dialect: str, settles_at: Any) -> Any:
    """`settles_by` in SQL, equal to what the Python version stores for the same row."""
    if dialect == "postgresql":
        utc = sa.func.timezone("UTC", settles_at)  # a naive UTC timestamp
        hour = sa.func.date_trunc("hour", utc)
        ceiling = sa.case((utc > hour, hour + sa.text("interval '1 hour'")), else_=hour)
        return sa.func.timezone("UTC", ceiling)
    # SQLite keeps the UTC time as text, 'YYYY-MM-DD HH:MM:SS.ffffff' (UTCDateTime).
    on_the_hour = sa.func.substr(settles_at, 15) == "00:00.000000"
    rounded_up = sa.func.strftime("%Y-%m-%d %H:00:00.000000", settles_at, "+1 hour")
    return sa.case((on_the_hour, settles_at), else_=rounded_up)


def rebuild(session: Session, customer_ids: Collection[str], period_start: datetime) -> None:
    """Recount these customers' period from its outcome rows, in one INSERT ... SELECT."""
    if not customer_ids:
        return
    ids = sorted(set(customer_ids))
    session.execute(
        sa.delete(TABLE).where(TABLE.c.customer_id.in_(ids), TABLE.c.period_start == period_start)
    )
    o = OUTCOMES.c
    by = _settles_by_sql(session.get_bind().dialect.name, o.settles_at)
    groups = (
        sa.select(
            o.vendor_id,
            o.customer_id,
            o.outcome,
            o.period_start,
            o.state,
            by,
            sa.func.sum(sa.func.coalesce(o.value, 1)),
            sa.func.count(),
        )
        .where(
            o.customer_id.in_(ids),
            o.period_start == period_start,
            o.state.in_([str(s) for s in TALLIED]),
        )
        .group_by(o.vendor_id, o.customer_id, o.outcome, o.period_start, o.state, by)
    )
    columns = ["vendor_id", "customer_id", "outcome", "period_start", "state", "settles_by"]
    session.execute(TABLE.insert().from_select([*columns, "units", "rows"], groups))


def changed(before: Iterable[Outcome], after: Mapping[int, str]) -> Deltas:
    """The deltas of rows whose state goes from what `before` holds to `after[id]`."""
    deltas = Deltas()
    for row in before:
        assert row.id is not None
        new_state = after[row.id]
        if new_state == row.state:
            continue
        deltas.add(row, -1)
        deltas.add({**row.model_dump(), "state": new_state}, 1)
    return deltas
