"""Every rule of `metering.ledger.states` selects in SQL exactly the rows its `holds` keeps.

Rows of every state, settling around the as-of instant (to the microsecond on either side),
with every combination of the display facts, go into a table with the outcome table's own
column types, on SQLite and PostgreSQL. Each predicate's clause must select exactly the rows
its in-memory twin keeps, and each display status's clause exactly the rows `display_status`
gives that status (so every row shows one status, in SQL as in memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import product
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from metering.ledger import states
from metering.ledger.outcomes.models import Outcome
from metering.ledger.states import DisplayStatus, EventStatus, Facts, OutcomeState
from metering.platform.db.types import UTCDateTime
from pricing_rules.outcomes import Candidate

AS_OF = datetime(2026, 3, 1, 12, tzinfo=UTC)
AROUND = (
    timedelta(hours=-72),
    timedelta(microseconds=-1),
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(hours=72),
)
OUTCOME_COLUMNS = Outcome.__table__.c  # type: ignore[attr-defined]

ROWS = sa.Table(
    "state_rule_rows",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", OUTCOME_COLUMNS.state.type, nullable=False),
    sa.Column("settles_at", OUTCOME_COLUMNS.settles_at.type, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("disputed", sa.Boolean, nullable=False),
    sa.Column("credited_line", sa.Boolean, nullable=False),
    sa.Column("billed_line", sa.Boolean, nullable=False),
)


@dataclass(frozen=True)
class Row:
    """An outcome row with its event's status and the facts the ledger cannot know."""

    id: int
    state: str
    settles_at: datetime
    status: str
    disputed: bool
    credited_line: bool
    billed_line: bool


Rule = tuple[str, sa.ColumnElement[bool], Callable[[Row], bool]]


def rules(as_of: datetime, no_disputes: bool) -> list[Rule]:
    """(name, clause, in-memory predicate) of every rule; with `no_disputes` the disputed
    fact is the constant false a caller passes when the customer has no open dispute."""
    t = ROWS.c
    in_states = [states.InState(state) for state in OutcomeState]
    found: list[Rule] = [(p.state.value, p.sql(t), p.holds) for p in in_states]
    found += [
        (
            "settled",
            states.SETTLED.sql(t, as_of),
            lambda r: states.SETTLED.holds(r.settles_at, as_of),
        ),
        ("billable", states.BILLABLE.sql(t, as_of), lambda r: states.BILLABLE.holds(r, as_of)),
        ("pending", states.PENDING.sql(t, as_of), lambda r: states.PENDING.holds(r, as_of)),
        ("event voided", states.EVENT_VOIDED.sql(t), states.EVENT_VOIDED.holds),
    ]
    sql_facts: Facts[sa.ColumnElement[bool]] = Facts(
        disputed=sa.false() if no_disputes else t.disputed,
        credited_line=t.credited_line,
        billed_line=t.billed_line,
    )

    def shows(status: DisplayStatus) -> Callable[[Row], bool]:
        def holds(row: Row) -> bool:
            facts = Facts(row.disputed and not no_disputes, row.credited_line, row.billed_line)
            return states.display_status(row, as_of, facts) is status

        return holds

    found += [
        (f"shows {status.value}", states.display_clause(status, t, as_of, sql_facts), shows(status))
        for status in DisplayStatus
    ]
    return found


@pytest.fixture(scope="module")
def table(module_engine: Engine) -> Iterator[Engine]:
    ROWS.create(module_engine)
    yield module_engine
    ROWS.drop(module_engine)


def load(engine: Engine, rows: Sequence[Row]) -> None:
    with engine.begin() as connection:
        connection.execute(ROWS.delete())
        if rows:
            connection.execute(ROWS.insert(), [asdict(row) for row in rows])


def selected(engine: Engine, clause: sa.ColumnElement[bool]) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(sa.select(ROWS.c.id).where(clause)).scalars())


def check(engine: Engine, rows: Sequence[Row], as_of: datetime, no_disputes: bool) -> None:
    load(engine, rows)
    for name, clause, holds in rules(as_of, no_disputes):
        kept = {row.id for row in rows if holds(row)}
        assert selected(engine, clause) == kept, name


def every_combination() -> list[Row]:
    combinations = product(OutcomeState, AROUND, (False, True), (False, True), (False, True))
    statuses = list(EventStatus)
    return [
        Row(n, state.value, AS_OF + offset, statuses[n % len(statuses)].value, *facts)
        for n, (state, offset, *facts) in enumerate(combinations)
    ]


@pytest.mark.parametrize("no_disputes", [False, True])
def test_every_rule_agrees_on_every_combination(table: Engine, no_disputes: bool) -> None:
    check(table, every_combination(), AS_OF, no_disputes)


def test_a_row_bills_from_its_settle_time_itself(table: Engine) -> None:
    rows = every_combination()
    load(table, rows)
    on_time = [r for r in rows if r.settles_at == AS_OF and r.state == "counted"]
    ids = {r.id for r in on_time}
    assert ids <= selected(table, states.BILLABLE.sql(ROWS.c, AS_OF))
    assert not ids & selected(table, states.PENDING.sql(ROWS.c, AS_OF))
    plain = [r for r in on_time if not (r.disputed or r.credited_line or r.billed_line)]
    no_facts = Facts(disputed=False, credited_line=False, billed_line=False)
    assert {states.display_status(r, AS_OF, no_facts) for r in plain} == {DisplayStatus.BILLABLE}
    a_moment_early = AS_OF - timedelta(microseconds=1)
    assert states.display_status(plain[0], a_moment_early, no_facts) is DisplayStatus.PENDING


ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)


@st.composite
def generated(draw: st.DrawFn) -> tuple[list[Row], datetime]:
    as_of = (AS_OF + draw(st.sampled_from(AROUND))).astimezone(draw(ZONES))
    count = draw(st.integers(0, 25))
    rows = [
        Row(
            n,
            draw(st.sampled_from(OutcomeState)).value,
            (AS_OF + draw(st.sampled_from(AROUND))).astimezone(draw(ZONES)),
            draw(st.sampled_from(EventStatus)).value,
            draw(st.booleans()),
            draw(st.booleans()),
            draw(st.booleans()),
        )
        for n in range(count)
    ]
    return rows, as_of


@settings(max_examples=30, deadline=None)
@given(case=generated(), no_disputes=st.booleans())
def test_every_rule_agrees_on_generated_rows(
    table: Engine, case: tuple[list[Row], datetime], no_disputes: bool
) -> None:
    rows, as_of = case
    check(table, rows, as_of, no_disputes)


def test_the_rules_written_out_as_text_select_what_their_clauses_do(
    table: Engine, backend: str
) -> None:
    rows = every_combination()
    load(table, rows)
    counted = {row.id for row in rows if states.COUNTED.holds(row)}
    billable = {row.id for row in rows if states.BILLABLE.holds(row, AS_OF)}
    query = f"SELECT id FROM {ROWS.name} WHERE "
    with table.connect() as connection:
        found = connection.execute(sa.text(query + states.COUNTED.text())).scalars()
        assert set(found) == counted
        if backend == "postgresql":  # as the value stream sends it: to the driver, as it is
            raw: Any = connection.exec_driver_sql(query + states.BILLABLE.text("%s"), (AS_OF,))
        else:
            as_of = sa.bindparam("as_of", AS_OF, type_=UTCDateTime())
            raw = connection.execute(
                sa.text(query + states.BILLABLE.text(":as_of")).bindparams(as_of)
            )
        assert set(raw.scalars()) == billable


# --- how a key resolves, and what an event's status says ----------------------------------


def at(hours: float) -> datetime:
    return AS_OF + timedelta(hours=hours)


def test_a_key_has_one_winner_and_its_reversed_and_duplicate_candidates() -> None:
    candidates = [
        Candidate("late", at(2), "m-late"),
        Candidate("first", at(0), "m-first"),
        Candidate("winner", at(1), "m-winner"),
    ]
    reopened = {"m-first": at(0.5)}
    resolved = {c.event_id: s for c, s in states.key_states(candidates, reopened, False)}
    assert resolved == {
        "first": OutcomeState.REVERSED,
        "winner": OutcomeState.COUNTED,
        "late": OutcomeState.DUPLICATE,
    }
    credited = states.key_states(candidates, reopened, credited=True)
    assert credited[0][0].event_id == "winner" and credited[0][1] is OutcomeState.CREDITED
    troubled = [Candidate("only", at(0), None, problem="properties.id is missing")]
    assert states.key_states(troubled, {}, credited=True)[0][1] is OutcomeState.PROBLEM


@pytest.mark.parametrize(
    ("outcome_states", "is_reversal", "expected"),
    [
        (["duplicate", "counted", "reversed"], False, EventStatus.COUNTED),
        (["duplicate", "credited"], False, EventStatus.CREDITED),
        (["reversed", "problem", "duplicate"], False, EventStatus.PROBLEM),
        (["reversed", "duplicate"], True, EventStatus.DUPLICATE),
        (["reversed", "voided"], False, EventStatus.REVERSED),
        (["voided"], True, EventStatus.REVERSAL),
        ([], False, EventStatus.UNMATCHED),
    ],
)
def test_an_events_status_is_the_best_of_its_outcome_states(
    outcome_states: list[str], is_reversal: bool, expected: EventStatus
) -> None:
    assert states.event_status(outcome_states, is_reversal) is expected
