"""Outcome rows: written with the events that make them, re-resolved when the picture changes.

An event is classified by the pure core against its customer's plan version; each outcome
it is a candidate for becomes a row, each reversal it makes becomes a reversal row. Then
every dedupe key touched is resolved again over all its stored candidates
(`metering.ledger.states.key_states`, where each state is defined), so the stored states
never depend on arrival order: a reopen stored before its resolution ends exactly as if it
had come after. Writers of the same dedupe key take turns (`metering.platform.db.locks`);
when a plan's reversal matches on another path than its dedupe key, writers of the whole
(customer, outcome) do.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metering.catalog.customers.models import Customer
from metering.catalog.plans.compiled import EXCLUSIVE_LOCK, PlanRef, versions_by_id
from metering.catalog.subscriptions.repository import Term, term_at, terms_of
from metering.ledger import states
from metering.ledger.disputes import repository as disputes
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes import limits, repository
from metering.ledger.outcomes.models import Outcome
from metering.ledger.outcomes.repository import Key, MatchRef
from metering.ledger.outcomes.stale import mark_stale
from metering.ledger.states import EventStatus, OutcomeState
from metering.platform.db import bulk
from metering.platform.db.bulk import prefer_index_lookups
from metering.platform.db.locks import lock_groups, lock_names
from metering.platform.db.types import AMOUNT_INTEGER_DIGITS, fits_amount
from pricing_rules.events import Event
from pricing_rules.outcomes import Candidate, ClaimKind, OutcomeHit, ReversalHit
from pricing_rules.periods import Period, clip

StaleMark = tuple[str, str, datetime]  # vendor_id, customer_id, period_start
Key_s = tuple[Key, ...]  # the keys of one subject of exclusive outcomes, in order
ALWAYS = datetime.min.replace(tzinfo=UTC)
EVENTS: sa.Table = StoredEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Classified:
    """What a plan makes of one event; `status` holds until its keys are resolved."""

    status: EventStatus
    plan_version_id: str | None
    period: Period | None = None
    hits: tuple[OutcomeHit, ...] = ()
    reversals: tuple[ReversalHit, ...] = ()
    key_locked: frozenset[str] = frozenset()
    exclusive: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class StoredEventRef:
    """A stored event to derive outcome rows for; `stored_status` is what its row says now,
    `voided_at` when it was voided (its rows are voided, and count only until then)."""

    pk: int
    vendor_id: str
    customer_id: str
    event: Event
    classified: Classified
    stored_status: str
    voided_at: datetime | None = None


_CLAIM_ORDER = (ClaimKind.REVERSAL, ClaimKind.REJECTION, ClaimKind.CONFIRMATION)
_CLAIM_STATUS = (EventStatus.REVERSAL, EventStatus.REJECTION, EventStatus.CONFIRMATION)


def classify(term: Term | None, event: Event) -> Classified:
    """Match one event against the subscription in force at its time (unmatched without).

    Its period is the plan's period cut to the subscription, so a plan change inside a
    period makes two periods, each deduped and closed on its own. An event that comes
    after its period closed is matched all the same: the next close corrects the period.
    """
    if term is None:
        return Classified(EventStatus.UNMATCHED, None)
    plan = term.plan
    period = clip(plan.plan.period_of(event.timestamp), term.starts_at, term.ends_at)
    found = plan.plan.classify(event)
    if found.outcomes:
        status = EventStatus.COUNTED
    elif found.reversals:
        status = _CLAIM_STATUS[min(_CLAIM_ORDER.index(claim.kind) for claim in found.reversals)]
    else:
        status = EventStatus.UNMATCHED
    return Classified(
        status,
        plan.version_id,
        period,
        found.outcomes,
        found.reversals,
        plan.key_locked,
        frozenset(plan.plan.exclusive_order),
    )


@dataclass(slots=True)
class _Member:
    """A candidate of one key: a stored row (`row_id`) or a new one (`new_index`), with its
    state and counted span as stored."""

    event_pk: int
    event_id: str
    occurred_at: datetime
    match_key: str | None
    problem: str | None
    state: str | None
    vendor_id: str
    period_end: datetime
    plan_version_id: str
    voided_at: datetime | None = None
    counted_from: datetime | None = None
    counted_until: datetime | None = None
    row_id: int | None = None
    new_index: int | None = None

    def as_stored(self) -> tuple[str | None, datetime | None, datetime | None]:
        return (self.state, self.counted_from, self.counted_until)


def _key_of(row: dict[str, Any]) -> Key:
    return (row["customer_id"], row["outcome"], row["period_start"], row["dedupe_key"])


def _outcome_row(ref: StoredEventRef, hit: OutcomeHit) -> dict[str, Any]:
    period = ref.classified.period
    assert period is not None
    value, problem = hit.value, hit.problem
    if isinstance(value, Decimal) and not fits_amount(value):
        value, problem = (
            None,
            (
                f"measured value {value} is beyond what an amount holds "
                f"(under 10^{AMOUNT_INTEGER_DIGITS})"
            ),
        )
    return {
        "vendor_id": ref.vendor_id,
        "customer_id": ref.customer_id,
        "plan_version_id": ref.classified.plan_version_id,
        "event_pk": ref.pk,
        "event_id": ref.event.id,
        "outcome": hit.outcome,
        "period_start": period.start,
        "period_end": period.end,
        "dedupe_key": hit.dedupe_key,
        "match_key": hit.match_key,
        "occurred_at": ref.event.timestamp,
        "value": value if isinstance(value, Decimal) else None,
        "value_text": value if isinstance(value, str) else None,
        "dimension": hit.dimension,
        "problem": problem,
        "settles_at": hit.settles_at,
        "verify_by": hit.verify_by,
        "state": OutcomeState.VOIDED if ref.voided_at else OutcomeState.DUPLICATE,
        "counted_from": None,
        "counted_until": None,
    }


def _reversal_row(ref: StoredEventRef, hit: ReversalHit) -> dict[str, Any]:
    return {
        "vendor_id": ref.vendor_id,
        "customer_id": ref.customer_id,
        "outcome": hit.outcome,
        "match_key": hit.match_key,
        "occurred_at": ref.event.timestamp,
        "event_pk": ref.pk,
        "voided": ref.voided_at is not None,
        "kind": hit.kind.value,
    }


def write_outcomes(
    session: Session,
    refs: Sequence[StoredEventRef],
    now: datetime,
    ended: set[StaleMark] | None = None,
) -> dict[int, EventStatus]:
    """Write the rows of newly stored events and resolve every key they touch.

    Returns the final status of each of `refs`; event rows whose status changed (these
    or earlier ones whose outcome was promoted, demoted or reversed) are updated. Periods
    that had ended by `now` and got a new or changed row are marked stale (in one
    statement; or added to `ended` for a caller that marks more).
    """
    marks: set[StaleMark] = set() if ended is None else ended
    prefer_index_lookups(session)
    new_rows = [_outcome_row(ref, hit) for ref in refs for hit in ref.classified.hits]
    reversal_rows = [_reversal_row(ref, hit) for ref in refs for hit in ref.classified.reversals]
    final = {ref.pk: ref.classified.status for ref in refs}
    if new_rows or reversal_rows:
        matches = {(r["customer_id"], r["outcome"], r["match_key"]) for r in reversal_rows}
        _lock_for(session, refs)
        repository.insert_reversals(session, reversal_rows)
        voided = {ref.pk: ref.voided_at for ref in refs if ref.voided_at is not None}
        new_states, changed_events = _resolve(session, new_rows, matches, set(), now, marks, voided)
        states_by_event: dict[int, list[str]] = {}
        for row, state in zip(new_rows, new_states, strict=True):
            states_by_event.setdefault(row["event_pk"], []).append(state)
        for ref in refs:
            if ref.voided_at is not None:
                final[ref.pk] = EventStatus.VOIDED
            elif ref.classified.hits:
                final[ref.pk] = states.event_status(
                    states_by_event[ref.pk], bool(ref.classified.reversals)
                )
        _refresh_statuses(session, changed_events - final.keys())
    stored = {ref.pk: ref.stored_status for ref in refs}
    _set_statuses(session, [(pk, s) for pk, s in final.items() if s != stored[pk]])
    if ended is None:
        mark_stale(session, marks)
    return final


def _lock_for(session: Session, refs: Sequence[StoredEventRef]) -> None:
    """Lock what these events touch: one dedupe key where the plan allows, else the whole
    (customer, outcome), so batches for the same customers still write side by side."""
    groups: list[tuple[str, str]] = []
    members: list[tuple[str, str, str]] = []
    for ref in refs:
        fine, exclusive = ref.classified.key_locked, ref.classified.exclusive
        claims = [(hit.outcome, hit.dedupe_key) for hit in ref.classified.hits]
        claims += [(claim.outcome, claim.match_key) for claim in ref.classified.reversals]
        for outcome, key in claims:
            name = EXCLUSIVE_LOCK if outcome in exclusive else outcome
            if outcome in fine:
                members.append((ref.customer_id, name, key))
            else:
                groups.append((ref.customer_id, name))
    lock_groups(session, groups, members)


def _stored_members(session: Session, keys: Collection[Key]) -> dict[Key, list[_Member]]:
    """The stored candidates of `keys`, voided ones with when they were voided."""
    rows = repository.rows_of_keys(session, keys)
    voided = [row.event_pk for row in rows if states.VOIDED.holds(row)]
    voided_at = repository.voided_at(session, voided) if voided else {}
    for event_pk in voided:  # a void is always recorded; without its time, void it always
        voided_at.setdefault(event_pk, ALWAYS)
    groups: dict[Key, list[_Member]] = {}
    for stored in rows:
        groups.setdefault(
            (stored.customer_id, stored.outcome, stored.period_start, stored.dedupe_key), []
        ).append(
            _Member(
                stored.event_pk,
                stored.event_id,
                stored.occurred_at,
                stored.match_key,
                stored.problem,
                stored.state,
                stored.vendor_id,
                stored.period_end,
                stored.plan_version_id,
                voided_at=voided_at.get(stored.event_pk),
                counted_from=stored.counted_from,
                counted_until=stored.counted_until,
                row_id=stored.id,
            )
        )
    return groups


def _resolve(
    session: Session,
    new_rows: list[dict[str, Any]],
    reversal_matches: Collection[MatchRef],
    extra_keys: set[Key],
    now: datetime,
    ended: set[StaleMark],
    voided: Mapping[int, datetime] | None = None,
    *,
    with_limits: bool = True,
) -> tuple[list[str], set[int]]:
    """Resolve every key touched; insert `new_rows` with their states, update changed rows.

    Returns the states given to `new_rows` and the pks of earlier events whose rows changed.
    Each row gets its state now and its counted span (`states.key_states`, from every
    candidate, reversal, void and credit of its key with their times). `voided`: when the
    events of voided new rows were voided, by event pk. The caller holds the (customer,
    outcome) locks of everything touched. Every period ended by `now` in which a row was
    inserted or changed state or span is added to `ended`. Then the block limits of every
    period touched decide which counted rows are over them (`limits`), unless `with_limits`
    is False (the call that counts rows back under a limit again).
    """
    groups = _touched_members(session, new_rows, reversal_matches, extra_keys, voided or {})
    plans = versions_by_id(session, {m.plan_version_id for ms in groups.values() for m in ms})
    subjects = _resolution_units(session, groups, plans)
    reversals, credited = _claims_on(session, groups)
    writes = _Writes([str(OutcomeState.DUPLICATE)] * len(new_rows))
    for subject in subjects:
        lone = _lone(subject, groups, reversals, credited, plans)
        if lone is not None:  # most keys: no facts to build, no instants to walk
            key = subject[0]
            writes.record(key, groups[key], [states.lone_state(lone)], new_rows, now, ended)
            continue
        facts = [_facts(key, groups.get(key, []), reversals, credited, plans) for key in subject]
        for key, resolved_key in zip(subject, states.group_states(facts), strict=True):
            writes.record(key, groups.get(key, []), resolved_key, new_rows, now, ended)
    repository.set_states(session, writes.changes)
    for row, state in zip(new_rows, writes.new_states, strict=True):
        row["state"] = state
    repository.insert_rows(session, new_rows)
    if with_limits:
        periods = {(key[0], key[2], ms[0].plan_version_id) for key, ms in groups.items() if ms}
        writes.changed_events |= _apply_limits(
            session, periods, now, ended, new_rows, writes.new_states
        )
    return writes.new_states, writes.changed_events


def _touched_members(
    session: Session,
    new_rows: list[dict[str, Any]],
    reversal_matches: Collection[MatchRef],
    extra_keys: set[Key],
    voided: Mapping[int, datetime],
) -> dict[Key, list[_Member]]:
    """The candidates of every key touched: stored ones, then the new rows (not stored yet)."""
    keys = {_key_of(row) for row in new_rows} | extra_keys
    if reversal_matches:
        keys |= repository.keys_matching(session, reversal_matches)
    groups = _stored_members(session, keys)
    for index, row in enumerate(new_rows):
        groups.setdefault(_key_of(row), []).append(
            _Member(
                row["event_pk"],
                row["event_id"],
                row["occurred_at"],
                row["match_key"],
                row["problem"],
                None,
                row["vendor_id"],
                row["period_end"],
                row["plan_version_id"],
                voided_at=voided.get(row["event_pk"]),
                new_index=index,
            )
        )
    return groups


def _resolution_units(
    session: Session, groups: dict[Key, list[_Member]], plans: Mapping[str, PlanRef]
) -> list[Key_s]:
    """The keys resolved together: each subject of exclusive outcomes (its other keys' stored
    candidates loaded into `groups`), then every other key alone."""
    subjects = _subjects(groups, plans)
    if missing := {key for subject in subjects for key in subject} - groups.keys():
        groups.update(_stored_members(session, missing))
    grouped = {key for subject in subjects for key in subject}
    return subjects + [(key,) for key in groups if key not in grouped]


def _claims_on(
    session: Session, groups: Mapping[Key, list[_Member]]
) -> tuple[Mapping[MatchRef, list[states.Reversal]], Mapping[Key, datetime]]:
    """The claims (reversals, rejections, confirmations) on the candidates' match keys, and
    when each key was credited by an accepted dispute."""
    matches = {
        (key[0], key[1], member.match_key)
        for key, members in groups.items()
        for member in members
        if member.match_key is not None
    }
    reversals = repository.reversals_of(session, matches) if matches else {}
    return reversals, disputes.credited_at(session, groups.keys())


@dataclass(slots=True)
class _Writes:
    """What a resolution changes: the states of the new rows, the stored rows whose state or
    span changed, and the events those rows belong to."""

    new_states: list[str]
    changes: list[repository.RowChange] = field(default_factory=list)
    changed_events: set[int] = field(default_factory=set)

    def record(
        self,
        key: Key,
        members: list[_Member],
        resolved_key: list[states.KeyState],
        new_rows: list[dict[str, Any]],
        now: datetime,
        ended: set[StaleMark],
    ) -> None:
        """One key's resolved candidates: a new row takes its state and span, a stored row
        whose state or span differs is changed; the ended periods they touch are marked."""
        by_event = {member.event_id: member for member in members}
        for resolved in resolved_key:
            member = by_event[resolved.candidate.event_id]
            now_state = (str(resolved.state), resolved.counted_from, resolved.counted_until)
            if member.new_index is not None:
                self.new_states[member.new_index] = now_state[0]
                new_rows[member.new_index].update(
                    counted_from=resolved.counted_from, counted_until=resolved.counted_until
                )
            elif member.as_stored() != now_state:
                assert member.row_id is not None
                self.changes.append((member.row_id, *now_state))
                if member.state != now_state[0]:
                    self.changed_events.add(member.event_pk)
            else:
                continue
            if member.period_end <= now:
                ended.add((member.vendor_id, key[0], key[2]))


def _apply_limits(
    session: Session,
    periods: Collection[limits.PeriodRef],
    now: datetime,
    ended: set[StaleMark],
    new_rows: list[dict[str, Any]],
    new_states: list[str],
) -> set[int]:
    """Take counted rows past a block limit out and count rows back under it again; the
    states of `new_rows` follow. Returns the pks of events whose rows changed."""
    decided = limits.decide(session, periods)
    if not decided:
        return set()
    repository.set_states(session, limits.over_limit_changes(decided))
    changed = {row.event_pk for row in decided.over}
    ended.update(
        (row.vendor_id, row.customer_id, row.period_start)
        for row in decided.over
        if row.period_end <= now
    )
    over = {(row.event_pk, row.outcome, row.dedupe_key) for row in decided.over}
    for index, row in enumerate(new_rows):
        if (row["event_pk"], row["outcome"], row["dedupe_key"]) in over:
            new_states[index] = str(OutcomeState.OVER_LIMIT)
            row["state"] = new_states[index]
    if decided.readmit:
        _, readmitted = _resolve(
            session, [], (), set(decided.readmit), now, ended, with_limits=False
        )
        changed |= readmitted
    return changed


def _subjects(groups: Mapping[Key, list[_Member]], plans: Mapping[str, PlanRef]) -> list[Key_s]:
    """The keys of exclusive outcomes grouped by subject (customer, period, dedupe key), each
    subject's keys in its plan's `exclusive.order`, whether stored rows have them or not."""
    found: dict[tuple[str, datetime, str], Key_s] = {}
    for key, members in groups.items():
        if not members:
            continue
        order = plans[members[0].plan_version_id].plan.exclusive_order
        if key[1] in order:
            subject = (key[0], key[2], key[3])
            found[subject] = tuple((key[0], name, key[2], key[3]) for name in order)
    return list(found.values())


def _lone(
    subject: Key_s,
    groups: Mapping[Key, list[_Member]],
    reversals: Mapping[MatchRef, list[states.Reversal]],
    credited: Mapping[Key, datetime],
    plans: Mapping[str, PlanRef],
) -> Candidate | None:
    """The candidate of a key alone in its subject, with one candidate and no fact after it
    (what `_facts` would make `states.KeyFacts.static`), read off its member directly."""
    if len(subject) != 1:
        return None
    key = subject[0]
    members = groups.get(key)
    if members is None or len(members) != 1:
        return None
    member = members[0]
    if member.voided_at is not None or key in credited:
        return None
    if member.match_key is not None and reversals.get((key[0], key[1], member.match_key)):
        return None
    if plans[member.plan_version_id].plan.verification.get(key[1]) is not None:
        return None
    return Candidate(member.event_id, member.occurred_at, member.match_key, problem=member.problem)


def _facts(
    key: Key,
    members: list[_Member],
    reversals: Mapping[MatchRef, list[states.Reversal]],
    credited: Mapping[Key, datetime],
    plans: Mapping[str, PlanRef],
) -> states.KeyFacts:
    """What one key's resolution reads: its candidates, the claims on their match keys (a
    voided candidate counts until its void), its credit, its outcome's verification."""
    matched = {member.match_key for member in members if member.match_key is not None}
    claims = [r for match in matched for r in reversals.get((key[0], key[1], match), [])]
    verification = None
    if members:
        verification = plans[members[0].plan_version_id].plan.verification.get(key[1])
    return states.KeyFacts(
        [Candidate(m.event_id, m.occurred_at, m.match_key, problem=m.problem) for m in members],
        claims,
        credited.get(key),
        {m.event_id: m.voided_at for m in members if m.voided_at is not None},
        verification,
    )


def _refresh_statuses(session: Session, event_pks: Collection[int]) -> None:
    """Recompute the status of earlier events whose outcome rows changed state."""
    if not event_pks:
        return
    found = repository.states_of_events(session, event_pks)
    _set_statuses(
        session, [(pk, states.event_status(found.get(pk, []), False)) for pk in event_pks]
    )


def _set_statuses(session: Session, statuses: Iterable[tuple[int, str]]) -> None:
    values = [{"pk": pk, "status": str(status)} for pk, status in statuses]
    bulk.update_rows(session, StoredEvent, "pk", values)


def void_outcomes(session: Session, event: StoredEvent, now: datetime) -> None:
    """Take a voided event out of its keys and reversals, then resolve those keys again."""
    assert event.pk is not None
    prefer_index_lookups(session)
    rows = repository.rows_of_event(session, event.pk)
    reversals = repository.reversals_of_event(session, event.pk)
    matches = {(r.customer_id, r.outcome, r.match_key) for r in reversals}
    names = [(r.customer_id, r.outcome) for r in rows] + [(c, o) for c, o, _ in matches]
    lock_names(session, _with_exclusive(names))
    repository.void_rows_of_event(session, event.pk)
    ended = {(r.vendor_id, r.customer_id, r.period_start) for r in rows if r.period_end <= now}
    keys = {(r.customer_id, r.outcome, r.period_start, r.dedupe_key) for r in rows}
    _, changed_events = _resolve(session, [], matches, keys, now, ended)
    _refresh_statuses(session, changed_events - {event.pk})
    mark_stale(session, ended)


def _with_exclusive(names: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """These (customer, outcome) lock names and each customer's exclusive one: whichever
    outcome of the plan is exclusive, its writers hold that name (`PlanRef.lock_name`)."""
    found = set(names)
    return sorted(found | {(customer, EXCLUSIVE_LOCK) for customer, _ in found})


def resolve_keys(session: Session, keys: Collection[Key], now: datetime) -> None:
    """Resolve `keys` again after something outside their rows changed (a dispute was
    accepted): rows and event statuses follow, ended periods are marked stale."""
    prefer_index_lookups(session)
    lock_names(session, _with_exclusive({(key[0], key[1]) for key in keys}))
    ended: set[StaleMark] = set()
    _, changed_events = _resolve(session, [], (), set(keys), now, ended)
    _refresh_statuses(session, changed_events)
    mark_stale(session, ended)


def enforce_limits(session: Session, customer: Customer, now: datetime) -> None:
    """Decide the block limits of the customer's periods that have outcome rows in force
    now again, after its spend limit changed: rows past it go over, rows under it count."""
    prefer_index_lookups(session)
    outcomes = session.exec(
        select(Outcome.outcome).where(Outcome.customer_id == customer.id).distinct()
    ).all()
    lock_names(session, _with_exclusive([(customer.id, name) for name in outcomes]))
    periods = session.exec(
        select(Outcome.period_start, Outcome.plan_version_id)
        .where(
            col(Outcome.customer_id) == customer.id,
            col(Outcome.period_end) > now,
            col(Outcome.period_start) <= now,
        )
        .distinct()
    ).all()
    ended: set[StaleMark] = set()
    changed = _apply_limits(
        session, {(customer.id, start, version) for start, version in periods}, now, ended, [], []
    )
    _refresh_statuses(session, changed)
    mark_stale(session, ended)


def as_core_event(row: StoredEvent) -> Event:
    """The pure core's view of a stored event."""
    return Event(
        id=row.event_id,
        type=row.type,
        customer=row.customer_external_id,
        timestamp=row.occurred_at,
        properties=row.properties,
        cost=row.cost,
    )


def rederive_customer(
    session: Session,
    customer: Customer,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Derive the outcomes of `customer`'s events in [since, until) again (None: unbounded).

    Called when its subscriptions change or an operator asks: each event is matched under
    the version in force at its time, events stored with no subscription in force become
    outcomes, and periods that had ended are marked stale so the next close corrects them.
    `since` and `until` must be period boundaries of the subscriptions (a dedupe key never
    straddles them). Voided events stay voided; their rows are derived too, voided, since
    they counted until their void. Returns the number of events derived.
    """
    terms = terms_of(session, [customer.id]).get(customer.id, [])
    statement = select(StoredEvent).where(
        StoredEvent.vendor_id == customer.vendor_id,
        StoredEvent.customer_id == customer.id,
    )
    if since is not None:
        statement = statement.where(col(StoredEvent.occurred_at) >= since)
    if until is not None:
        statement = statement.where(col(StoredEvent.occurred_at) < until)
    events = session.exec(statement.order_by(col(StoredEvent.pk))).all()
    outcomes = session.exec(
        select(Outcome.outcome).where(Outcome.customer_id == customer.id).distinct()
    ).all()
    planned = {name for term in terms for name in term.plan.plan.rules.outcomes}
    lock_names(session, _with_exclusive([(customer.id, name) for name in {*outcomes, *planned}]))
    removed = repository.delete_for_customer(session, customer.id, since, until)
    ended = {
        (customer.vendor_id, customer.id, start) for start, end in removed.periods if end <= now
    }
    voided = [row.pk for row in events if row.pk is not None and states.EVENT_VOIDED.holds(row)]
    voided_at = repository.voided_at(session, voided) if voided else {}
    refs = []
    for row in events:
        assert row.pk is not None
        event = as_core_event(row)
        classified = classify(term_at(terms, event.timestamp), event)
        row.plan_version_id = classified.plan_version_id
        void = voided_at.get(row.pk, ALWAYS) if row.pk in voided else None
        refs.append(
            StoredEventRef(row.pk, row.vendor_id, customer.id, event, classified, row.status, void)
        )
    session.flush()
    write_outcomes(session, refs, now, ended)
    if removed.keys or removed.matches:
        # Rows outside the range whose key or reversal lost a row or reversal resolve again.
        _, changed = _resolve(session, [], removed.matches, removed.keys, now, ended)
        _refresh_statuses(session, changed - {ref.pk for ref in refs})
    mark_stale(session, ended)
    for row in events:  # their statuses were updated in bulk, past the identity map
        session.expire(row)
    return len(refs)
