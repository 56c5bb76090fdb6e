"""Queries over outcome and reversal rows, always set-based (one statement per batch)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.ledger import states
from metering.ledger.events.models import EventVoid
from metering.ledger.outcomes.models import Outcome, OutcomeReversal
from metering.ledger.states import OutcomeState
from metering.ledger.tallies import repository as tallies
from metering.platform.db import bulk
from pricing_rules.outcomes import ClaimKind

Key = tuple[str, str, datetime, str]  # customer_id, outcome, period_start, dedupe_key
MatchRef = tuple[str, str, str]  # customer_id, outcome, match_key

T = TypeVar("T")
CHUNK = 500  # tuples per IN list: well under both databases' parameter limits


def _chunks(items: Collection[T]) -> Iterator[list[T]]:
    ordered = list(items)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


TEXT = sa.Text()
TIME = sa.DateTime(timezone=True)
OUTCOMES = Outcome.metadata.tables["outcomes"]
REVERSALS = OutcomeReversal.metadata.tables["outcome_reversals"]


def _key_in(session: Session, keys: list[Key]) -> sa.ColumnElement[bool]:
    columns = (
        col(Outcome.customer_id),
        col(Outcome.outcome),
        col(Outcome.period_start),
        col(Outcome.dedupe_key),
    )
    return bulk.tuples_in(session, columns, (TEXT, TEXT, TIME, TEXT), keys)


def _match_in(session: Session, table: Any, matches: list[MatchRef]) -> sa.ColumnElement[bool]:
    columns = (col(table.customer_id), col(table.outcome), col(table.match_key))
    return bulk.tuples_in(session, columns, (TEXT, TEXT, TEXT), matches)


# What key resolution reads of a stored candidate (plain rows: no ORM objects to build).
_CANDIDATE = tuple(
    OUTCOMES.c[name]
    for name in (
        "id",
        "vendor_id",
        "customer_id",
        "plan_version_id",
        "event_pk",
        "event_id",
        "outcome",
        "period_start",
        "period_end",
        "dedupe_key",
        "match_key",
        "occurred_at",
        "problem",
        "state",
        "counted_from",
        "counted_until",
    )
)


# The same on PostgreSQL, joined to the keys (distinct: a set) sent as one JSON array.
_KEYED_CANDIDATES = (
    f"SELECT {', '.join(f'o.{column.name}' for column in _CANDIDATE)} "
    "FROM jsonb_array_elements(CAST(%s AS JSONB)) AS k(v) JOIN outcomes AS o "
    "ON o.customer_id = k.v->>0 AND o.outcome = k.v->>1 "
    "AND o.period_start = CAST(k.v->>2 AS TIMESTAMPTZ) AND o.dedupe_key = k.v->>3"
)


def rows_of_keys(session: Session, keys: Collection[Key]) -> list[Any]:
    """Every candidate of `keys`, voided ones too: until its void, a voided candidate
    counted like any other (`metering.ledger.states`, counted spans)."""
    rows: list[Any] = []
    postgres = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(set(keys)):
        if postgres:
            rows += bulk.driver_rows(session, _KEYED_CANDIDATES, bulk.json_rows(chunk))
        else:
            rows.extend(session.execute(sa.select(*_CANDIDATE).where(_key_in(session, chunk))))
    return rows


def voided_at(session: Session, event_pks: Collection[int]) -> dict[int, datetime]:
    """When each of these events was voided (those that were)."""
    found: dict[int, datetime] = {}
    for chunk in _chunks(event_pks):
        statement = select(EventVoid.event_pk, EventVoid.voided_at).where(
            col(EventVoid.event_pk).in_(chunk)
        )
        found.update(session.exec(statement).all())
    return found


# The keys of `keys_matching` on PostgreSQL, joined to the match keys (distinct: a set).
_KEYS_OF_MATCHES = (
    "SELECT o.customer_id, o.outcome, o.period_start, o.dedupe_key "
    "FROM jsonb_array_elements(CAST(%s AS JSONB)) AS m(k) JOIN outcomes AS o "
    "ON o.match_key = m.k->>2 AND o.customer_id = m.k->>0 AND o.outcome = m.k->>1"
)


def keys_matching(session: Session, matches: Collection[MatchRef]) -> set[Key]:
    """The keys that have a candidate with one of these match keys."""
    keys: set[Key] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(set(matches)):
        if postgres:
            rows = bulk.driver_rows(session, _KEYS_OF_MATCHES, bulk.json_rows(chunk))
            keys.update((c, o, p, d) for c, o, p, d in rows)
            continue
        statement = (
            select(Outcome.customer_id, Outcome.outcome, Outcome.period_start, Outcome.dedupe_key)
            .where(_match_in(session, Outcome, chunk))
            .distinct()
        )
        keys.update((c, o, p, d) for c, o, p, d in session.exec(statement).all())
    return keys


# The claims of `reversals_of` on PostgreSQL, joined to the match keys (distinct: a set).
_CLAIMS_ON_MATCHES = (
    "SELECT r.customer_id, r.outcome, r.match_key, r.occurred_at, v.voided_at, r.kind "
    "FROM jsonb_array_elements(CAST(%s AS JSONB)) AS m(k) JOIN outcome_reversals AS r "
    "ON r.customer_id = m.k->>0 AND r.outcome = m.k->>1 AND r.match_key = m.k->>2 "
    "LEFT JOIN event_voids AS v ON v.event_pk = r.event_pk"
)


def reversals_of(
    session: Session, matches: Collection[MatchRef]
) -> dict[MatchRef, list[states.Reversal]]:
    """Every claim (reversal, rejection, confirmation) on these match keys, with when its
    event was voided (if it was)."""
    found: dict[MatchRef, list[states.Reversal]] = {}
    r = OutcomeReversal
    postgres = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(set(matches)):
        if postgres:
            rows = bulk.driver_rows(session, _CLAIMS_ON_MATCHES, bulk.json_rows(chunk))
            for customer_id, outcome, match_key, occurred_at, voided, kind in rows:
                found.setdefault((customer_id, outcome, match_key), []).append(
                    states.Reversal(match_key, occurred_at, voided, ClaimKind(kind))
                )
            continue
        statement = (
            sa.select(
                col(r.customer_id),
                col(r.outcome),
                col(r.match_key),
                col(r.occurred_at),
                col(EventVoid.voided_at),
                col(r.kind),
            )
            .select_from(r)
            .outerjoin(EventVoid, col(EventVoid.event_pk) == col(r.event_pk))
            .where(_match_in(session, r, chunk))
        )
        for customer_id, outcome, match_key, occurred_at, voided, kind in session.execute(
            statement
        ):
            found.setdefault((customer_id, outcome, match_key), []).append(
                states.Reversal(match_key, occurred_at, voided, ClaimKind(kind))
            )
    return found


def states_of_events(session: Session, event_pks: Collection[int]) -> dict[int, list[str]]:
    """The states of every outcome row of these events."""
    found: dict[int, list[str]] = {}
    for chunk in _chunks(event_pks):
        statement = select(Outcome.event_pk, Outcome.state).where(col(Outcome.event_pk).in_(chunk))
        for event_pk, state in session.exec(statement).all():
            found.setdefault(event_pk, []).append(state)
    return found


def rows_of_event(session: Session, event_pk: int) -> Sequence[Outcome]:
    statement = select(Outcome).where(Outcome.event_pk == event_pk).order_by(col(Outcome.id))
    return session.exec(statement).all()


def reversals_of_event(session: Session, event_pk: int) -> Sequence[OutcomeReversal]:
    statement = (
        select(OutcomeReversal)
        .where(OutcomeReversal.event_pk == event_pk)
        .order_by(col(OutcomeReversal.id))
    )
    return session.exec(statement).all()


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    bulk.insert_rows(session, OUTCOMES, rows)
    deltas = tallies.Deltas()
    for row in rows:
        deltas.add(row, 1)
    deltas.apply(session)


def insert_reversals(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    bulk.insert_rows(session, REVERSALS, rows)


RowChange = tuple[int, str, datetime | None, datetime | None]
"""Row id, state, counted from, counted until."""


def set_states(session: Session, changes: Iterable[RowChange]) -> None:
    """Update row states and counted spans by id: demotions first, so a key never has two
    counted rows."""
    ordered = sorted(changes, key=lambda change: change[1] == OutcomeState.COUNTED)
    if ordered:
        before = tallies.rows_by_id(session, [change[0] for change in ordered])
        tallies.changed(before, {change[0]: change[1] for change in ordered}).apply(session)
        values = [
            {"id": row_id, "state": str(state), "counted_from": start, "counted_until": end}
            for row_id, state, start, end in ordered
        ]
        # One statement per step: every demotion before any promotion (the unique index on
        # counted rows is checked row by row, in an order an UPDATE does not promise).
        promoted = [value for value in values if value["state"] == OutcomeState.COUNTED]
        bulk.update_rows(session, Outcome, "id", values[: len(values) - len(promoted)])
        bulk.update_rows(session, Outcome, "id", promoted)


def void_rows_of_event(session: Session, event_pk: int) -> None:
    before = rows_of_event(session, event_pk)
    tallies.changed(before, {row.id: OutcomeState.VOIDED for row in before if row.id}).apply(
        session
    )
    session.execute(
        sa.update(Outcome)
        .where(col(Outcome.event_pk) == event_pk)
        .values(state=OutcomeState.VOIDED)
    )
    session.execute(
        sa.update(OutcomeReversal)
        .where(col(OutcomeReversal.event_pk) == event_pk)
        .values(voided=True)
    )


@dataclass(frozen=True, slots=True)
class Removed:
    """What deleting a customer's rows took away: periods, keys and reversal matches."""

    periods: set[tuple[datetime, datetime]]
    keys: set[Key]
    matches: set[MatchRef]


def _within(column: Any, since: datetime | None, until: datetime | None) -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.true() if since is None else column >= since,
        sa.true() if until is None else column < until,
    )


def delete_for_customer(
    session: Session, customer_id: str, since: datetime | None, until: datetime | None
) -> Removed:
    """Delete the outcome and reversal rows of a customer's events in [since, until)."""
    rows = sa.and_(
        col(Outcome.customer_id) == customer_id,
        _within(col(Outcome.occurred_at), since, until),
    )
    reversals = sa.and_(
        col(OutcomeReversal.customer_id) == customer_id,
        _within(col(OutcomeReversal.occurred_at), since, until),
    )
    found = session.exec(
        select(
            Outcome.outcome,
            Outcome.period_start,
            Outcome.period_end,
            Outcome.dedupe_key,
        )
        .where(rows)
        .distinct()
    ).all()
    matches = session.exec(
        select(OutcomeReversal.outcome, OutcomeReversal.match_key).where(reversals).distinct()
    ).all()
    for start in {start for _, start, _, _ in found}:
        session.execute(sa.delete(Outcome).where(rows, col(Outcome.period_start) == start))
        tallies.rebuild(session, [customer_id], start)
    session.execute(sa.delete(Outcome).where(rows))
    session.execute(sa.delete(OutcomeReversal).where(reversals))
    return Removed(
        periods={(start, end) for _, start, end, _ in found},
        keys={(customer_id, outcome, start, key) for outcome, start, _, key in found},
        matches={(customer_id, outcome, match_key) for outcome, match_key in matches},
    )


def state_counts(
    session: Session, customer_id: str, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    """How many outcome rows of a customer's events in [since, until) are in each state."""
    statement = (
        select(Outcome.state, sa.func.count())
        .where(
            col(Outcome.customer_id) == customer_id,
            _within(col(Outcome.occurred_at), since, until),
        )
        .group_by(col(Outcome.state))
    )
    return {state: count for state, count in session.exec(statement).all()}
