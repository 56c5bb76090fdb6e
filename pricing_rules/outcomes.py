"""Outcome state: which events are billable outcomes, deduplicated, pending or reversed.

`CompiledPlan.classify` is the per-event step the storage layer runs when it stores an event;
`resolve_key` is the order-independent rule that decides, among the candidate events of one
dedupe key, which one counts. `OutcomeLedger` runs both in memory over a stream of events for
pricing a file, simulating, or benchmarking. All three share these rules, so a stored outcome
row and an in-memory price can never disagree.

The rules, independent of arrival order:
- candidates of one (customer, outcome, period, dedupe key) are ordered by (timestamp, id);
- a candidate is reversed when a reversal event with its match key happened at or after it
  (and at or before the as-of time);
- the first candidate that is not reversed counts; the other live candidates are duplicates;
- the one that counts is pending until its timestamp plus `settle.after` is at or before as-of.

Verified outcomes (`settle.confirmed_by`, `settle.rejected_by`) add two kinds of claims beside
reversals, tied to candidates by their match key the same way:
- a rejection is a reversal the customer made (a low survey score): the candidates at or
  before it are `rejected`, never billed;
- a candidate of a verified outcome takes part from its first confirmation in
  [its timestamp, + `within`] on (`Verification.counts_from`); before, it is awaiting
  verification; without a confirmation, `otherwise: count` counts it from the end of the
  window and `otherwise: drop` never.

Exclusive outcomes (`exclusive` at plan level) share one dedupe key, the exclusive key: each
resolves its own key as above, then the first outcome of `order` whose key has a billed winner
(`exclusive_winner`) is the one that counts; the billed winners of the others are superseded.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pricing_rules.events import Event
from pricing_rules.measures import Accumulator, Count, Measure, MeasureProblem
from pricing_rules.paths import MISSING, Getter, canonical_key, compile_getter, top_property
from pricing_rules.periods import Period, period_containing
from pricing_rules.rules import ConfirmedBy, OutcomeSpec, RejectedBy, ReversedBy, RuleFile

MeasureValue = Decimal | str | None


@dataclass(frozen=True, slots=True)
class OutcomeHit:
    """An event is a candidate for `outcome` under `dedupe_key`."""

    outcome: str
    dedupe_key: str
    match_key: str | None
    value: MeasureValue
    problem: str | None
    settles_at: datetime
    verify_by: datetime | None = None
    """The end of its confirmation window, for a verified outcome."""
    dimension: str | None = None
    """The value of the outcome's `group_by` path, when a charge prices it per value."""


class ClaimKind(StrEnum):
    """What an event says of the candidates of an outcome with its match key."""

    REVERSAL = "reversal"
    REJECTION = "rejection"
    CONFIRMATION = "confirmation"


@dataclass(frozen=True, slots=True)
class ReversalHit:
    """An event's claim (a reversal by default) on the outcomes of `outcome` whose match key
    is `match_key`."""

    outcome: str
    match_key: str
    kind: ClaimKind = ClaimKind.REVERSAL


@dataclass(frozen=True, slots=True)
class Classification:
    outcomes: tuple[OutcomeHit, ...] = ()
    reversals: tuple[ReversalHit, ...] = ()

    @property
    def matched(self) -> bool:
        return bool(self.outcomes or self.reversals)


UNMATCHED = Classification()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One event competing for a dedupe key; value and problem ride along for the ledger."""

    event_id: str
    occurred_at: datetime
    match_key: str | None = None
    value: MeasureValue = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class KeyResolution:
    winner: Candidate | None
    reversed: list[Candidate]
    duplicates: list[Candidate]
    rejected: list[Candidate] = field(default_factory=list)
    awaiting: list[Candidate] = field(default_factory=list)


_NO_CLAIMS: Mapping[str, datetime] = {}
_NO_TIMES: Mapping[str, list[datetime]] = {}


def resolve_key(
    candidates: Sequence[Candidate],
    last_reversal: Mapping[str, datetime],
    last_rejection: Mapping[str, datetime] = _NO_CLAIMS,
    awaiting: Collection[str] = (),
) -> KeyResolution:
    """Decide which candidate of one dedupe key counts (see the module docstring).

    `last_rejection`: the latest rejection of each match key; `awaiting`: the event ids of
    candidates still waiting for their confirmation (`Verification.counts_from`).
    """
    winner: Candidate | None = None
    reversed_: list[Candidate] = []
    duplicates: list[Candidate] = []
    rejected: list[Candidate] = []
    waiting: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.occurred_at, c.event_id)):
        match = candidate.match_key
        rejection = None if match is None else last_rejection.get(match)
        reversal = None if match is None else last_reversal.get(match)
        if rejection is not None and rejection >= candidate.occurred_at:
            rejected.append(candidate)
        elif reversal is not None and reversal >= candidate.occurred_at:
            reversed_.append(candidate)
        elif candidate.event_id in awaiting:
            waiting.append(candidate)
        elif winner is None:
            winner = candidate
        else:
            duplicates.append(candidate)
    return KeyResolution(winner, reversed_, duplicates, rejected, waiting)


@dataclass(frozen=True, slots=True)
class Verification:
    """`settle.confirmed_by` of one outcome, as the resolution reads it."""

    within: timedelta
    count_unconfirmed: bool

    def counts_from(
        self, occurred_at: datetime, confirmations: Iterable[datetime]
    ) -> datetime | None:
        """When a candidate that occurred at `occurred_at` may count: at its first
        confirmation inside its window, else at the window's end with `otherwise: count`,
        else never (None)."""
        deadline = occurred_at + self.within
        first = None
        for at in confirmations:
            if occurred_at <= at <= deadline and (first is None or at < first):
                first = at
        if first is not None:
            return first
        return deadline if self.count_unconfirmed else None


def exclusive_winner(billed: Sequence[Candidate | None]) -> int | None:
    """Among the billed winners of one subject's keys, in the plan's `exclusive.order`, the
    index of the one that counts: the first there is. The others are superseded."""
    for index, candidate in enumerate(billed):
        if candidate is not None:
            return index
    return None


@dataclass(frozen=True, slots=True)
class _CompiledOutcome:
    name: str
    matches: Callable[[Event], bool]
    key_path: str | None
    key_of: Getter | None
    match_of: Getter | None
    value_of: Callable[[Event], Any]
    settle_after: timedelta
    reversible: bool
    verify_within: timedelta | None
    group_of: Callable[[Event], str | None] | None = None
    match_is_key: bool = False
    """The match key is read from the dedupe key's path (a conversation id for both): the
    dedupe key is reused instead of reading the event again."""

    key_property: str | None = None
    """The dedupe key's path is one level under `properties`: read here without a getter."""
    counts_only: bool = False
    """Its measure is `count`: no value to read."""

    def evaluate(self, event: Event) -> tuple[str, str | None, MeasureValue, str | None]:
        """(dedupe key, match key, value, problem) as a plain tuple: this is the hot path."""
        problem: str | None = None
        key_of = self.key_of
        if key_of is None:
            key = event.id
        else:
            key_property = self.key_property
            raw = (
                key_of(event)
                if key_property is None
                else event.properties.get(key_property, MISSING)
            )
            if raw is MISSING:
                key = f"missing:{event.id}"
                problem = f"{self.key_path} is missing, so the outcome cannot be deduplicated"
            else:
                key = raw if raw.__class__ is str else canonical_key(raw)
        match_key: str | None = None
        if self.match_is_key:
            match_key = key if problem is None else None  # a problem here: the key is missing
        elif self.match_of is not None:
            raw_match = self.match_of(event)
            if raw_match is not MISSING:
                match_key = raw_match if raw_match.__class__ is str else canonical_key(raw_match)
        value: MeasureValue = None
        if problem is None and not self.counts_only:
            try:
                value = self.value_of(event)
            except MeasureProblem as exc:
                problem = str(exc)
        return key, match_key, value, problem

    def hit(self, event: Event) -> OutcomeHit:
        key, match_key, value, problem = self.evaluate(event)
        within = self.verify_within
        dimension = None if self.group_of is None else self.group_of(event)
        return OutcomeHit(
            self.name,
            key,
            match_key,
            value,
            problem,
            event.timestamp + self.settle_after,
            None if within is None else event.timestamp + within,
            dimension,
        )


@dataclass(frozen=True, slots=True)
class _CompiledReversal:
    """A claim an event type makes on an outcome: a reversal, a rejection or a confirmation."""

    outcome: str
    matches: Callable[[Event], bool]
    match_of: Getter
    kind: ClaimKind = ClaimKind.REVERSAL

    def hit(self, event: Event) -> ReversalHit | None:
        raw = self.match_of(event)
        if raw is MISSING:
            return None
        return ReversalHit(self.outcome, canonical_key(raw), self.kind)


def _always(event: Event) -> bool:
    return True


def dimension_reader(path: str) -> Callable[[Event], str | None]:
    """A closure reading a `group_by` value as text (None when the event has none)."""
    name = top_property(path)
    if name is not None:

        def read_property(event: Event) -> str | None:
            raw = event.properties.get(name)
            if raw is None or raw.__class__ is str:
                return raw
            return canonical_key(raw)

        return read_property
    getter = compile_getter(path)

    def read(event: Event) -> str | None:
        raw = getter(event)
        if raw is MISSING or raw is None:
            return None
        return raw if raw.__class__ is str else canonical_key(raw)

    return read


def _compile_outcome(
    name: str, spec: OutcomeSpec, key_path: str | None, group_path: str | None
) -> _CompiledOutcome:
    settle = spec.settle
    confirmed_by = settle.confirmed_by
    match_path = next((c.match for c in _claims(spec) if c is not None), None)
    return _CompiledOutcome(
        name=name,
        matches=spec.where.compile() if spec.where is not None else _always,
        key_path=key_path,
        key_of=compile_getter(key_path) if key_path else None,
        match_of=compile_getter(match_path) if match_path else None,
        value_of=spec.measure.compile_value(),
        settle_after=settle.after,
        reversible=any(c is not None for c in _claims(spec)),
        verify_within=None if confirmed_by is None else confirmed_by.within,
        group_of=dimension_reader(group_path) if group_path else None,
        match_is_key=bool(key_path) and match_path == key_path,
        key_property=top_property(key_path) if key_path else None,
        counts_only=isinstance(spec.measure, Count),
    )


def _claims(spec: OutcomeSpec) -> tuple[ReversedBy | ConfirmedBy | RejectedBy | None, ...]:
    settle = spec.settle
    return (settle.reversed_by, settle.rejected_by, settle.confirmed_by)


_CLAIM_KINDS = (ClaimKind.REVERSAL, ClaimKind.REJECTION, ClaimKind.CONFIRMATION)


class CompiledPlan:
    """A rule file compiled once into per-event-type closures."""

    def __init__(self, rules: RuleFile) -> None:
        self.rules = rules
        self._last_period: Period | None = None
        self.outcomes_by_type: dict[str, list[_CompiledOutcome]] = {}
        self.reversals_by_type: dict[str, list[_CompiledReversal]] = {}
        exclusive = rules.exclusive
        self.exclusive_order: tuple[str, ...] = () if exclusive is None else exclusive.order
        """Exclusive outcomes, highest precedence first (they share the exclusive key)."""
        self.verification: dict[str, Verification] = {}
        self.group_paths = group_paths = rules.group_paths
        """The `group_by` path of each outcome a charge prices per value."""
        for name, spec in rules.outcomes.items():
            key_path = spec.unique_by
            if exclusive is not None and name in exclusive.order:
                key_path = exclusive.key
            compiled = _compile_outcome(name, spec, key_path, group_paths.get(name))
            self.outcomes_by_type.setdefault(spec.event, []).append(compiled)
            confirmed_by = spec.settle.confirmed_by
            if confirmed_by is not None:
                self.verification[name] = Verification(
                    confirmed_by.within, confirmed_by.otherwise == "count"
                )
            for claim, kind in zip(_claims(spec), _CLAIM_KINDS, strict=True):
                if claim is not None:
                    self.reversals_by_type.setdefault(claim.event, []).append(
                        _CompiledReversal(
                            outcome=name,
                            matches=claim.where.compile() if claim.where else _always,
                            match_of=compile_getter(claim.match),
                            kind=kind,
                        )
                    )

    def dedupe_path(self, outcome: str) -> str | None:
        """The path an outcome's dedupe key is read from: `unique_by`, or the exclusive key
        for an outcome in `exclusive.order`."""
        exclusive = self.rules.exclusive
        if exclusive is not None and outcome in exclusive.order:
            return exclusive.key
        return self.rules.outcomes[outcome].unique_by

    def classify(self, event: Event) -> Classification:
        """The outcome candidacies and reversals this one event makes, with no state."""
        outcomes = self.outcomes_by_type.get(event.type)
        reversals = self.reversals_by_type.get(event.type)
        if outcomes is None and reversals is None:
            return UNMATCHED
        hits = tuple(o.hit(event) for o in outcomes or () if o.matches(event))
        reversal_hits = tuple(
            hit for r in reversals or () if r.matches(event) and (hit := r.hit(event)) is not None
        )
        if not hits and not reversal_hits:
            return UNMATCHED
        return Classification(hits, reversal_hits)

    def period_of(self, instant: datetime) -> Period:
        """The billing period of `instant`; events of a batch mostly share one, so the last
        answer is kept (cutting a period in a timezone costs more than matching an event)."""
        last = self._last_period
        if last is not None and last.start <= instant < last.end:
            return last
        billing = self.rules.billing
        found = period_containing(instant, billing.interval, billing.timezone)
        self._last_period = found
        return found


def compile_plan(rules: RuleFile) -> CompiledPlan:
    return CompiledPlan(rules)


@dataclass(frozen=True, slots=True)
class Problem:
    """An event that should be an outcome but cannot be valued; reported, never dropped."""

    event_id: str
    outcome: str
    message: str


@dataclass(slots=True)
class OutcomeUsage:
    """What one customer's outcomes of one kind amount to in a period, as of a time."""

    outcome: str
    quantity: Decimal = Decimal(0)
    billable: int = 0
    values: list[Decimal] = field(default_factory=list)
    pending: int = 0
    reversed: int = 0
    duplicates: int = 0
    credited: int = 0
    rejected: int = 0
    awaiting: int = 0
    """Verified outcomes without their confirmation (yet, or ever with `otherwise: drop`)."""
    superseded: int = 0
    groups: dict[str | None, OutcomeUsage] = field(default_factory=dict)
    """Billable usage per value of the outcome's `group_by` path, when it has one."""


@dataclass(slots=True)
class CustomerUsage:
    customer: str
    outcomes: dict[str, OutcomeUsage] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def usage(self, outcome: str) -> OutcomeUsage:
        found = self.outcomes.get(outcome)
        if found is None:
            found = self.outcomes[outcome] = OutcomeUsage(outcome)
        return found


# A candidate as the ledger keeps it: (timestamp, event id, match key, value, problem,
# group_by value).
_Kept = tuple[datetime, str, str | None, MeasureValue, str | None, str | None]
_Key = tuple[str, str]
"""A dedupe key within one customer: (outcome, dedupe key)."""
_Times = tuple[datetime, ...] | list[datetime]
"""The confirmation times of one match key."""
_ClaimStep = tuple[
    str, Callable[[Event], bool], Getter, dict[tuple[str, str], dict[str, Any]], bool
]
"""A claim an event type makes, as the hot loop reads it: (outcome, matches, match key
getter, where the ledger keeps such claims, whether it is a confirmation)."""


class OutcomeLedger:
    """Outcome state over a stream of events for one period, as of one time.

    Memory holds one entry per dedupe key (every candidate of a key only when the outcome can
    be reversed, since a later reversal may promote a later candidate), never the events.
    Candidates are plain tuples here; `resolve_key` decides only the keys that need it.
    They are kept per customer, so that `resolve` settles one customer's keys (and decides
    its exclusive contenders) while they are still in the processor's cache.

    `credited` names the keys (customer, outcome, dedupe key) the vendor credited, by
    accepting a dispute: such a key's winner is counted as credited, never billed, and none
    of its duplicates is promoted in its place.
    """

    def __init__(
        self,
        plan: CompiledPlan,
        period: Period,
        as_of: datetime,
        credited: Collection[tuple[str, str, str]] = frozenset(),
    ) -> None:
        self.plan = plan
        self.period = period
        self.as_of = as_of
        self.credited = frozenset(credited)
        self._single: dict[str, dict[_Key, _Kept]] = {}
        """Per customer with an event in the period (even one that is no outcome), the kept
        candidate of each key."""
        self._several: dict[str, dict[_Key, list[_Kept]]] = {}
        """Per customer, every candidate of a reversible key that had more than one."""
        self._duplicates: dict[str, dict[_Key, int]] = {}
        """Per customer, the later candidates of a key that cannot be reversed, counted."""
        self._last_reversal: dict[tuple[str, str], dict[str, datetime]] = {}
        self._last_rejection: dict[tuple[str, str], dict[str, datetime]] = {}
        self._confirmations: dict[tuple[str, str], dict[str, _Times]] = {}
        self._steps = {
            kind: [(o.name, o.matches, o.evaluate, o.reversible, o.group_of) for o in compiled]
            for kind, compiled in plan.outcomes_by_type.items()
        }
        stores: dict[ClaimKind, dict[tuple[str, str], dict[str, Any]]] = {
            ClaimKind.REVERSAL: self._last_reversal,
            ClaimKind.REJECTION: self._last_rejection,
            ClaimKind.CONFIRMATION: self._confirmations,
        }
        self._claims: dict[str, list[_ClaimStep]] = {
            kind: [
                (r.outcome, r.matches, r.match_of, stores[r.kind], r.kind is ClaimKind.CONFIRMATION)
                for r in compiled
            ]
            for kind, compiled in plan.reversals_by_type.items()
        }

    def add(self, event: Event) -> None:
        self.add_all((event,))

    def add_all(self, events: Iterable[Event]) -> None:
        collecting = gc.isenabled()
        # Kept candidates are tuples of immutable values and form no cycle; the collector's
        # passes over millions of them cost about a quarter of the loop, so pause it here.
        gc.disable()
        try:
            self._add_events(events)
        finally:
            if collecting:
                gc.enable()

    def _add_events(self, events: Iterable[Event]) -> None:
        """The hot loop: everything it touches per event is a local."""
        as_of, start, end = self.as_of, self.period.start, self.period.end
        steps_of = self._steps.get
        claims_of = self._claims.get
        single = self._single
        for event in events:
            ts = event.timestamp
            if ts > as_of:
                continue
            kind = event.type
            claims = claims_of(kind)
            if claims is not None:
                self._add_claims(event, claims)
            if not start <= ts < end:
                continue
            customer = event.customer
            keys = single.get(customer)
            if keys is None:
                keys = single[customer] = {}
            steps = steps_of(kind)
            if steps is None:
                continue
            for name, matches, evaluate, reversible, group_of in steps:
                if not matches(event):
                    continue
                key, match_key, value, problem = evaluate(event)
                dimension = None if group_of is None else group_of(event)
                kept: _Kept = (ts, event.id, match_key, value, problem, dimension)
                skey = (name, key)
                first = keys.get(skey)
                if first is None:
                    keys[skey] = kept
                elif reversible:
                    self._add_several(customer, skey, first, kept)
                else:
                    # Without reversals only the earliest candidate can ever count.
                    counted = self._duplicates.setdefault(customer, {})
                    counted[skey] = counted.get(skey, 0) + 1
                    if (ts, event.id) < (first[0], first[1]):
                        keys[skey] = kept

    def _add_several(self, customer: str, skey: _Key, first: _Kept, kept: _Kept) -> None:
        """Another candidate of a reversible key: all are kept, a reversal of the first may
        promote a later one."""
        groups = self._several.setdefault(customer, {})
        group = groups.get(skey)
        if group is None:
            groups[skey] = [first, kept]
        else:
            group.append(kept)

    def _add_claims(self, event: Event, claims: list[_ClaimStep]) -> None:
        """Keep each claim: the latest reversal and rejection of a match key, every
        confirmation (a candidate's window picks its own).

        Most match keys get one confirmation: it is kept in a tuple, which the garbage
        collector stops tracking, not in a list that every full collection (during pricing,
        after `resolve`) would walk; a second one makes a list."""
        ts = event.timestamp
        for outcome, matches, match_of, store, confirms in claims:
            if not matches(event):
                continue
            raw = match_of(event)
            if raw is MISSING:
                continue
            match_key = raw if raw.__class__ is str else canonical_key(raw)
            group = (event.customer, outcome)
            by_key = store.get(group)
            if by_key is None:
                by_key = store[group] = {}
            seen = by_key.get(match_key)
            if confirms:
                if seen is None:
                    by_key[match_key] = (ts,)
                elif isinstance(seen, tuple):
                    by_key[match_key] = [*seen, ts]
                else:
                    seen.append(ts)
            elif seen is None or ts > seen:
                by_key[match_key] = ts

    def key_count(self) -> int:
        """Dedupe keys held in memory: what the ledger's memory grows with."""
        return sum(len(keys) for keys in self._single.values())

    def _tally(
        self,
        customer: str,
        outcome: str,
        usage: OutcomeUsage,
        subjects: dict[str, int],
    ) -> _Tally:
        spec = self.plan.rules.outcomes[outcome]
        group = (customer, outcome)
        verification = self.plan.verification.get(outcome)
        order = self.plan.exclusive_order
        exclusive = outcome in order
        return _Tally(
            usage,
            spec.measure.accumulator(),
            spec.settle.after,
            self._last_reversal.get(group),
            self._last_rejection.get(group),
            self._confirmations.get(group, _NO_TIMES),
            verification,
            None
            if verification is None or not verification.count_unconfirmed
            else self.as_of - verification.within,
            order.index(outcome) if exclusive else -1,
            order[: order.index(outcome)] if exclusive else (),
            subjects if exclusive else None,
            isinstance(spec.measure, Count),
            spec.measure if outcome in self.plan.group_paths else None,
        )

    def _winner(
        self, first: _Kept, several: list[_Kept] | None, duplicates: int, tally: _Tally
    ) -> _Kept | None:
        """The candidate that counts for a key, tallying the others by what became of them."""
        latest, rejections, verification = tally.reversals, tally.rejections, tally.verification
        usage = tally.usage
        kept_by_id = {kept[1]: kept for kept in several or (first,)}
        awaiting: set[str] = set()
        if verification is not None:
            for ts, event_id, match_key, _, _, _ in kept_by_id.values():
                times = tally.confirmations.get(match_key or "", ())
                counts_from = verification.counts_from(ts, times)
                if counts_from is None or counts_from > self.as_of:
                    awaiting.add(event_id)
        resolution = resolve_key(
            [Candidate(k[1], k[0], k[2]) for k in kept_by_id.values()],
            latest or _NO_CLAIMS,
            rejections or _NO_CLAIMS,
            awaiting,
        )
        usage.reversed += len(resolution.reversed)
        usage.rejected += len(resolution.rejected)
        usage.awaiting += len(resolution.awaiting)
        usage.duplicates += len(resolution.duplicates) + duplicates
        return None if resolution.winner is None else kept_by_id[resolution.winner.event_id]

    def resolve(self) -> dict[str, CustomerUsage]:
        """Every customer with an event in the period, with its usage per outcome."""
        collecting = gc.isenabled()
        gc.disable()  # as in `add_all`: the tuples made here form no cycle either
        try:
            return self._resolve()
        finally:
            if collecting:
                gc.enable()

    def _resolve(self) -> dict[str, CustomerUsage]:
        usages = {}
        for customer, keys in sorted(self._single.items()):
            usages[customer] = usage = CustomerUsage(customer)
            self._resolve_customer(usage, keys)
        return usages

    def _resolve_customer(self, usage: CustomerUsage, keys: dict[_Key, _Kept]) -> None:
        """One customer's keys, in the order they were first seen: the hot loop of `resolve`."""
        customer = usage.customer
        tallies: dict[str, _Tally] = {}
        # The best place in `exclusive.order` billed per subject, and every billed winner of
        # an exclusive outcome: counted once all of the customer's keys are known.
        subjects: dict[str, int] = {}
        contenders: list[tuple[_Tally, str, _Kept]] = []
        several = self._several.get(customer, _NO_GROUPS)
        duplicates = self._duplicates.get(customer, _NO_COUNTS)
        credited, as_of = self.credited, self.as_of
        for skey, first in keys.items():
            outcome, key = skey
            tally = tallies.get(outcome)
            if tally is None:
                tally = self._tally(customer, outcome, usage.usage(outcome), subjects)
                tallies[outcome] = tally
            match = first[2]
            if (
                not (several and skey in several)
                and (tally.reversals is None or match not in tally.reversals)
                and (tally.rejections is None or match not in tally.rejections)
            ):
                # Alone and never cancelled (the common case): it counts, once confirmed
                # when its outcome is verified.
                if duplicates and skey in duplicates:
                    tally.usage.duplicates += duplicates[skey]
                verification = tally.verification
                winner: _Kept | None = first
                if verification is not None:
                    times = tally.confirmations.get(match) if match else None
                    if times is None:  # never confirmed: counted if its window has ended
                        counted_by = tally.counted_by
                        counts = counted_by is not None and first[0] <= counted_by
                    else:
                        counts_from = verification.counts_from(first[0], times)
                        counts = counts_from is not None and counts_from <= as_of
                    if not counts:
                        tally.usage.awaiting += 1
                        winner = None
            else:
                winner = self._winner(first, several.get(skey), duplicates.get(skey, 0), tally)
            if winner is None:
                continue
            problem = winner[4]
            if problem is not None:
                usage.problems.append(Problem(winner[1], outcome, problem))
            elif credited and (customer, outcome, key) in credited:
                tally.usage.credited += 1
            elif (contest := tally.subjects) is not None:
                place = tally.place
                for rival in tally.rivals:
                    if (rival, key) in keys:
                        # An outcome before it in `exclusive.order` has a candidate on this
                        # subject: decided once every key of the customer is resolved.
                        best = contest.get(key)
                        if best is None or place < best:
                            contest[key] = place
                        contenders.append((tally, key, winner))
                        break
                else:
                    # Nothing before it in `exclusive.order` names this subject (always so
                    # for the first): it wins, and is counted now.
                    contest[key] = place
                    tally.count(winner, as_of)
            else:
                tally.count(winner, as_of)
        # In the order they were found (reading the kept candidates in memory order).
        for tally, key, winner in contenders:
            if subjects[key] == tally.place:
                tally.count(winner, as_of)
            else:
                tally.usage.superseded += 1
        for tally in tallies.values():
            tally.finish()


_NO_GROUPS: Mapping[_Key, list[_Kept]] = {}
_NO_COUNTS: Mapping[_Key, int] = {}


@dataclass(slots=True)
class _Tally:
    """One customer's outcome of one kind while the ledger resolves: its usage, and the
    claims on its match keys."""

    usage: OutcomeUsage
    accumulator: Accumulator
    settle_after: timedelta
    reversals: Mapping[str, datetime] | None
    rejections: Mapping[str, datetime] | None
    confirmations: Mapping[str, _Times]
    verification: Verification | None
    counted_by: datetime | None
    """With `otherwise: count`, an unconfirmed candidate counts if it occurred by this."""
    place: int
    """Its outcome's place in `exclusive.order` (-1: not exclusive)."""
    rivals: tuple[str, ...]
    """The outcomes before it in `exclusive.order`, which supersede it on a shared subject."""
    subjects: dict[str, int] | None
    """The customer's best place billed per subject, for an exclusive outcome."""
    by_count: bool
    """Its measure is `count`: the quantity is the number billed, no accumulator is fed."""
    measure: Measure | None = None
    """For an outcome a charge prices per `group_by` value: each value is measured apart."""
    groups: dict[str | None, tuple[OutcomeUsage, Accumulator]] = field(default_factory=dict)

    def count(self, winner: _Kept, as_of: datetime) -> None:
        """A key's billed winner: pending until it settles, then measured (and measured
        under its `group_by` value too, when it has one)."""
        occurred_at, event_id, _, value, _, group = winner
        usage = self.usage
        if occurred_at + self.settle_after > as_of:
            usage.pending += 1
            return
        usage.billable += 1
        by_count = self.by_count
        if not by_count:
            if isinstance(value, Decimal):
                usage.values.append(value)
            self.accumulator.add(value, occurred_at, event_id)
        if self.measure is not None:
            by_value = self.groups.get(group)
            if by_value is None:
                by_value = self.groups[group] = (
                    OutcomeUsage(usage.outcome),
                    self.measure.accumulator(),
                )
                usage.groups[group] = by_value[0]
            by_value[0].billable += 1
            if not by_count:
                by_value[1].add(value, occurred_at, event_id)

    def finish(self) -> None:
        """Set the quantities once every key is counted."""
        usage = self.usage
        if self.by_count:
            usage.quantity = Decimal(usage.billable)
            for by_value, _ in self.groups.values():
                by_value.quantity = Decimal(by_value.billable)
            return
        usage.quantity = self.accumulator.result()
        for by_value, accumulator in self.groups.values():
            by_value.quantity = accumulator.result()
