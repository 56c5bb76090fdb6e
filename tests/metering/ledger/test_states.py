"""Every rule of `metering.ledger.states` selects in SQL exactly the rows its `holds` keeps.

Rows of every state, settling around the as-of instant (to the microsecond on either side),
with counted spans that start and end around it, with every combination of the display
facts, go into a table with the outcome table's own column types, on SQLite and PostgreSQL.
Each predicate's clause must select exactly the rows its in-memory twin keeps, and each
display status's clause exactly the rows `display_status` gives that status (so every row
shows one status, in SQL as in memory). Then how a key resolves: its state now, and the
counted span that bills it as of any instant exactly as the pure core would then.
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
from pricing_rules.outcomes import Candidate, ClaimKind, Verification, resolve_key

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
    sa.Column("counted_from", OUTCOME_COLUMNS.counted_from.type, nullable=True),
    sa.Column("counted_until", OUTCOME_COLUMNS.counted_until.type, nullable=True),
    sa.Column("verify_by", OUTCOME_COLUMNS.verify_by.type, nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
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
    counted_from: datetime | None
    counted_until: datetime | None
    verify_by: datetime | None
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
        (
            "counted at",
            states.COUNTED_AT.sql(t, as_of),
            lambda r: states.COUNTED_AT.holds(r, as_of),
        ),
        (
            "still counting",
            states.STILL_COUNTING.sql(t, as_of),
            lambda r: states.STILL_COUNTING.holds(r, as_of),
        ),
        (
            "changes after",
            states.CHANGES_AFTER.sql(t, as_of),
            lambda r: states.CHANGES_AFTER.holds(r, as_of),
        ),
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


def _shifted(offset: timedelta | None) -> datetime | None:
    return None if offset is None else AS_OF + offset


SPAN_EDGES = (None, *AROUND)
SPANS = [(None, None)] + [
    (_shifted(start), _shifted(end))
    for start, end in product(AROUND, SPAN_EDGES)
    if end is None or start < end
]
"""Counted spans starting and ending around the as-of instant, and no span at all."""


VERIFY_BY = (None, AS_OF, AS_OF + timedelta(microseconds=1))
"""No confirmation window, one that ends at the as-of instant, one that ends just after."""


def every_combination() -> list[Row]:
    combinations = product(
        OutcomeState, AROUND, SPANS[::3], VERIFY_BY, (False, True), (False, True), (False, True)
    )
    statuses = list(EventStatus)
    return [
        Row(
            n, state.value, AS_OF + offset, *span, verify, statuses[n % len(statuses)].value, *facts
        )
        for n, (state, offset, span, verify, *facts) in enumerate(combinations)
    ] + [
        Row(100_000 + n, "counted", AS_OF + offset, *span, None, "counted", False, False, False)
        for n, (offset, span) in enumerate(product(AROUND, SPANS))
    ]


@pytest.mark.parametrize("no_disputes", [False, True])
def test_every_rule_agrees_on_every_combination(table: Engine, no_disputes: bool) -> None:
    check(table, every_combination(), AS_OF, no_disputes)


def test_a_row_bills_from_its_settle_time_itself(table: Engine) -> None:
    rows = every_combination()
    load(table, rows)
    on_time = [
        r
        for r in rows
        if r.settles_at == AS_OF
        and r.state == "counted"
        and r.counted_from == AS_OF
        and r.counted_until is None
    ]
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

    def zoned(instant: datetime | None) -> datetime | None:
        return None if instant is None else instant.astimezone(draw(ZONES))

    rows = [
        Row(
            n,
            draw(st.sampled_from(OutcomeState)).value,
            (AS_OF + draw(st.sampled_from(AROUND))).astimezone(draw(ZONES)),
            *(zoned(edge) for edge in draw(st.sampled_from(SPANS))),
            zoned(draw(st.sampled_from(VERIFY_BY))),
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
            raw: Any = connection.exec_driver_sql(
                query + states.BILLABLE.text("%(as_of)s"), {"as_of": AS_OF}
            )
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
    reopened = [states.Reversal("m-first", at(0.5))]
    resolved = {k.candidate.event_id: k.state for k in states.key_states(candidates, reopened)}
    assert resolved == {
        "first": OutcomeState.REVERSED,
        "winner": OutcomeState.COUNTED,
        "late": OutcomeState.DUPLICATE,
    }
    credited = states.key_states(candidates, reopened, credited_at=at(3))
    assert credited[0].candidate.event_id == "winner"
    assert credited[0].state is OutcomeState.CREDITED
    troubled = [Candidate("only", at(0), None, problem="properties.id is missing")]
    assert states.key_states(troubled, (), credited_at=at(3))[0].state is OutcomeState.PROBLEM


def spans_of(found: list[states.KeyState]) -> dict[str, tuple[Any, ...]]:
    return {k.candidate.event_id: (k.state, k.counted_from, k.counted_until) for k in found}


def test_a_lone_candidate_with_no_later_fact_counts_from_its_time_unless_a_problem() -> None:
    """The shortcut of `group_states` for the common key says what the full resolution says."""
    assert spans_of(states.key_states([Candidate("only", at(0), "m")])) == {
        "only": (OutcomeState.COUNTED, at(0), None)
    }
    troubled = [Candidate("only", at(0), "m", problem="measured value is not a number")]
    assert spans_of(states.key_states(troubled)) == {"only": (OutcomeState.PROBLEM, None, None)}
    for found in (
        states.key_states([Candidate("only", at(0), "m")], [states.Reversal("m", at(1))]),
        states.key_states([Candidate("only", at(0), "m")], credited_at=at(1)),
        states.key_states([Candidate("only", at(0), "m")], voided_at={"only": at(1)}),
    ):  # a later fact: the full resolution, a span that ends
        assert spans_of(found)["only"][1:] == (at(0), at(1))


def test_a_reversal_ends_the_winners_span_at_its_own_time() -> None:
    found = states.key_states([Candidate("w", at(0), "m")], [states.Reversal("m", at(80))])
    assert spans_of(found) == {"w": (OutcomeState.REVERSED, at(0), at(80))}


def test_a_void_ends_a_span_when_recorded_and_promotes_the_duplicate_from_then() -> None:
    candidates = [Candidate("w", at(0), "m"), Candidate("d", at(1), "m")]
    found = states.key_states(candidates, voided_at={"w": at(90)})
    assert spans_of(found) == {
        "d": (OutcomeState.COUNTED, at(90), None),
        "w": (OutcomeState.VOIDED, at(0), at(90)),
    }


def test_a_credit_ends_the_span_and_promotes_nobody() -> None:
    candidates = [Candidate("w", at(0)), Candidate("d", at(1))]
    found = states.key_states(candidates, credited_at=at(100))
    assert spans_of(found) == {
        "w": (OutcomeState.CREDITED, at(0), at(100)),
        "d": (OutcomeState.DUPLICATE, None, None),
    }


def test_a_problem_and_a_reversed_candidate_never_bill() -> None:
    troubled = [Candidate("p", at(0), problem="no key"), Candidate("d", at(1))]
    assert spans_of(states.key_states(troubled)) == {
        "p": (OutcomeState.PROBLEM, None, None),
        "d": (OutcomeState.DUPLICATE, None, None),
    }
    early = states.key_states([Candidate("r", at(5), "m")], [states.Reversal("m", at(5))])
    assert spans_of(early) == {"r": (OutcomeState.REVERSED, None, None)}


def test_a_voided_reversal_counts_again_from_its_void_keeping_the_latest_span() -> None:
    found = states.key_states(
        [Candidate("w", at(0), "m")], [states.Reversal("m", at(10), voided_at=at(20))]
    )
    assert spans_of(found) == {"w": (OutcomeState.COUNTED, at(20), None)}


HOURS = st.integers(0, 12)


@st.composite
def keys(draw: st.DrawFn) -> dict[str, Any]:
    """A key's candidates, reversals, voids and credit, all on an hour grid."""
    count = draw(st.integers(1, 4))
    candidates = [
        Candidate(
            f"e{n}",
            at(draw(HOURS)),
            draw(st.sampled_from(["m", "n", None])),
            problem=draw(st.sampled_from([None, None, None, "bad"])),
        )
        for n in range(count)
    ]
    reversals = [
        states.Reversal(draw(st.sampled_from(["m", "n"])), at(draw(HOURS)))
        for _ in range(draw(st.integers(0, 3)))
    ]
    voided = {c.event_id: at(draw(HOURS)) for c in candidates if draw(st.integers(0, 3)) == 0}
    credited = at(draw(HOURS)) if draw(st.booleans()) else None
    return {
        "candidates": candidates,
        "reversals": reversals,
        "voided": voided,
        "credited": credited,
    }


def billed_as_of(key: dict[str, Any], instant: datetime) -> str | None:
    """The candidate billed at `instant`, from the pure core's rule over what had happened."""
    live = [
        c
        for c in key["candidates"]
        if c.occurred_at <= instant
        and not (c.event_id in key["voided"] and key["voided"][c.event_id] <= instant)
    ]
    last: dict[str, datetime] = {}
    for reversal in key["reversals"]:
        if reversal.occurred_at <= instant:
            last[reversal.match_key] = max(
                last.get(reversal.match_key, reversal.occurred_at), reversal.occurred_at
            )
    winner = resolve_key(live, last).winner
    credited = key["credited"] is not None and key["credited"] <= instant
    return None if winner is None or winner.problem or credited else winner.event_id


@settings(max_examples=300, deadline=None)
@given(key=keys(), order=st.randoms(use_true_random=False))
def test_spans_bill_exactly_what_the_core_bills_as_of_every_instant_in_any_order(
    key: dict[str, Any], order: Any
) -> None:
    candidates, reversals = list(key["candidates"]), list(key["reversals"])
    order.shuffle(candidates)
    order.shuffle(reversals)
    found = states.key_states(candidates, reversals, key["credited"], key["voided"])

    assert sorted(k.candidate.event_id for k in found) == sorted(c.event_id for c in candidates)
    for hour in range(-1, 14):
        for instant in (at(hour), at(hour + 0.5)):
            billed = [k.candidate.event_id for k in found if states.COUNTED_AT.holds(k, instant)]
            expected = billed_as_of(key, instant)
            assert billed == ([] if expected is None else [expected]), instant
    counted = [k for k in found if k.state is OutcomeState.COUNTED]
    assert all(k.counted_until is None and k.counted_from is not None for k in counted)
    others = [k for k in found if k.state is not OutcomeState.COUNTED]
    assert all(k.counted_from is None or k.counted_until is not None for k in others)


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


# --- one subject of exclusive outcomes, verified outcomes ----------------------------------

KINDS = st.sampled_from([ClaimKind.REVERSAL, ClaimKind.REJECTION, ClaimKind.CONFIRMATION])
VERIFICATIONS = st.sampled_from(
    [None, Verification(timedelta(hours=3), False), Verification(timedelta(hours=3), True)]
)


@st.composite
def subjects(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Two or three keys of one subject (in precedence order), each like `keys` with claims
    of every kind and maybe a verification."""
    found = []
    for index in range(draw(st.integers(2, 3))):
        key = draw(keys())
        key["candidates"] = [
            Candidate(f"k{index}-{c.event_id}", c.occurred_at, c.match_key, problem=c.problem)
            for c in key["candidates"]
        ]
        key["voided"] = {f"k{index}-{eid}": when for eid, when in key["voided"].items()}
        key["reversals"] = [
            states.Reversal(r.match_key, r.occurred_at, kind=draw(KINDS)) for r in key["reversals"]
        ]
        key["verification"] = draw(VERIFICATIONS)
        found.append(key)
    return found


def key_billed_as_of(key: dict[str, Any], instant: datetime) -> str | None:
    """The candidate one key bills at `instant`, from the pure core's rules."""
    live = [
        c
        for c in key["candidates"]
        if c.occurred_at <= instant
        and not (c.event_id in key["voided"] and key["voided"][c.event_id] <= instant)
    ]
    last: dict[ClaimKind, dict[str, datetime]] = {ClaimKind.REVERSAL: {}, ClaimKind.REJECTION: {}}
    confirmations: dict[str, list[datetime]] = {}
    for claim in key["reversals"]:
        if claim.occurred_at > instant:
            continue
        if claim.kind is ClaimKind.CONFIRMATION:
            confirmations.setdefault(claim.match_key, []).append(claim.occurred_at)
        else:
            seen = last[claim.kind].get(claim.match_key, claim.occurred_at)
            last[claim.kind][claim.match_key] = max(seen, claim.occurred_at)
    awaiting = set()
    if key["verification"] is not None:
        for c in live:
            start = key["verification"].counts_from(
                c.occurred_at, confirmations.get(c.match_key or "", [])
            )
            if start is None or start > instant:
                awaiting.add(c.event_id)
    resolution = resolve_key(live, last[ClaimKind.REVERSAL], last[ClaimKind.REJECTION], awaiting)
    winner = resolution.winner
    credited = key["credited"] is not None and key["credited"] <= instant
    return None if winner is None or winner.problem or credited else winner.event_id


@settings(max_examples=300, deadline=None)
@given(subject=subjects(), order=st.randoms(use_true_random=False))
def test_a_subject_bills_its_first_billed_key_by_precedence_as_of_every_instant(
    subject: list[dict[str, Any]], order: Any
) -> None:
    facts = []
    for key in subject:
        candidates, claims = list(key["candidates"]), list(key["reversals"])
        order.shuffle(candidates)
        order.shuffle(claims)
        facts.append(
            states.KeyFacts(candidates, claims, key["credited"], key["voided"], key["verification"])
        )
    found = [k for resolved in states.group_states(facts) for k in resolved]

    assert len(found) == sum(len(key["candidates"]) for key in subject)
    # From the instant every fact had happened on (candidates, claims, voids, credits): a row
    # keeps one counted span, its latest (states.py says so), so before then a row that
    # counted, was superseded by a confirmed outcome of higher precedence and counted again
    # once that one was voided shows only the latest span. Known limit, left for later: a
    # close between those facts bills such a subject at its next close instead.
    last = max(
        [c.occurred_at for key in subject for c in key["candidates"]]
        + [r.occurred_at for key in subject for r in key["reversals"]]
        + [when for key in subject for when in key["voided"].values()]
        + [key["credited"] for key in subject if key["credited"] is not None]
    )
    for hour in range(-1, 20):
        for instant in (at(hour), at(hour + 0.5)):
            if instant < last:
                continue
            billed = [k.candidate.event_id for k in found if states.COUNTED_AT.holds(k, instant)]
            expected = next(
                (e for key in subject if (e := key_billed_as_of(key, instant)) is not None),
                None,
            )
            assert billed == ([] if expected is None else [expected]), instant
    counted = [k for k in found if k.state is OutcomeState.COUNTED]
    assert len(counted) <= 1


def test_a_superseded_resolution_counts_again_when_the_qualification_is_reversed() -> None:
    qualification = states.KeyFacts(
        [Candidate("q", at(2), "c-1")], [states.Reversal("c-1", at(10))]
    )
    resolution = states.KeyFacts([Candidate("r", at(1), "c-1")])
    handoff = states.KeyFacts([Candidate("h", at(0), "c-1")])
    found = states.group_states([qualification, resolution, handoff])
    assert [spans_of(key) for key in found] == [
        {"q": (OutcomeState.REVERSED, at(2), at(10))},
        {"r": (OutcomeState.COUNTED, at(10), None)},
        {"h": (OutcomeState.SUPERSEDED, at(0), at(1))},  # until the resolution happened
    ]
