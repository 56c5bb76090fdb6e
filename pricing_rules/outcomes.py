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
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pricing_rules.events import Event
from pricing_rules.measures import Accumulator, MeasureProblem
from pricing_rules.paths import MISSING, Getter, canonical_key, compile_getter
from pricing_rules.periods import Period, period_containing
from pricing_rules.rules import OutcomeSpec, RuleFile

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
    dimension: str | None = None
    """The value of the outcome's `group_by` path, when a charge prices it per value."""


@dataclass(frozen=True, slots=True)
class ReversalHit:
    """An event cancels the outcomes of `outcome` whose match key is `match_key`."""

    outcome: str
    match_key: str


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


def resolve_key(
    candidates: Sequence[Candidate], last_reversal: Mapping[str, datetime]
) -> KeyResolution:
    """Decide which candidate of one dedupe key counts (see the module docstring)."""
    winner: Candidate | None = None
    reversed_: list[Candidate] = []
    duplicates: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.occurred_at, c.event_id)):
        reversal = None if candidate.match_key is None else last_reversal.get(candidate.match_key)
        if reversal is not None and reversal >= candidate.occurred_at:
            reversed_.append(candidate)
        elif winner is None:
            winner = candidate
        else:
            duplicates.append(candidate)
    return KeyResolution(winner, reversed_, duplicates)


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
    group_of: Callable[[Event], str | None] | None = None

    def evaluate(self, event: Event) -> tuple[str, str | None, MeasureValue, str | None]:
        """(dedupe key, match key, value, problem) as a plain tuple: this is the hot path."""
        problem: str | None = None
        key_of = self.key_of
        if key_of is None:
            key = event.id
        else:
            raw = key_of(event)
            if raw is MISSING:
                key = f"missing:{event.id}"
                problem = f"{self.key_path} is missing, so the outcome cannot be deduplicated"
            else:
                key = raw if raw.__class__ is str else canonical_key(raw)
        match_key: str | None = None
        if self.match_of is not None:
            raw_match = self.match_of(event)
            if raw_match is not MISSING:
                match_key = raw_match if raw_match.__class__ is str else canonical_key(raw_match)
        value: MeasureValue = None
        if problem is None:
            try:
                value = self.value_of(event)
            except MeasureProblem as exc:
                problem = str(exc)
        return key, match_key, value, problem

    def hit(self, event: Event) -> OutcomeHit:
        key, match_key, value, problem = self.evaluate(event)
        dimension = None if self.group_of is None else self.group_of(event)
        return OutcomeHit(
            self.name,
            key,
            match_key,
            value,
            problem,
            event.timestamp + self.settle_after,
            dimension,
        )


@dataclass(frozen=True, slots=True)
class _CompiledReversal:
    outcome: str
    matches: Callable[[Event], bool]
    match_of: Getter

    def hit(self, event: Event) -> ReversalHit | None:
        raw = self.match_of(event)
        if raw is MISSING:
            return None
        return ReversalHit(self.outcome, canonical_key(raw))


def _always(event: Event) -> bool:
    return True


def dimension_reader(path: str) -> Callable[[Event], str | None]:
    """A closure reading a `group_by` value as text (None when the event has none)."""
    getter = compile_getter(path)

    def read(event: Event) -> str | None:
        raw = getter(event)
        if raw is MISSING or raw is None:
            return None
        return raw if raw.__class__ is str else canonical_key(raw)

    return read


def _compile_outcome(name: str, spec: OutcomeSpec, group_path: str | None) -> _CompiledOutcome:
    reversed_by = spec.settle.reversed_by
    return _CompiledOutcome(
        name=name,
        matches=spec.where.compile() if spec.where is not None else _always,
        key_path=spec.unique_by,
        key_of=compile_getter(spec.unique_by) if spec.unique_by else None,
        match_of=compile_getter(reversed_by.match) if reversed_by else None,
        value_of=spec.measure.compile_value(),
        settle_after=spec.settle.after,
        reversible=reversed_by is not None,
        group_of=dimension_reader(group_path) if group_path else None,
    )


class CompiledPlan:
    """A rule file compiled once into per-event-type closures."""

    def __init__(self, rules: RuleFile) -> None:
        self.rules = rules
        self._last_period: Period | None = None
        self.outcomes_by_type: dict[str, list[_CompiledOutcome]] = {}
        self.reversals_by_type: dict[str, list[_CompiledReversal]] = {}
        group_paths = rules.group_paths
        for name, spec in rules.outcomes.items():
            compiled = _compile_outcome(name, spec, group_paths.get(name))
            self.outcomes_by_type.setdefault(spec.event, []).append(compiled)
            reversed_by = spec.settle.reversed_by
            if reversed_by is not None:
                self.reversals_by_type.setdefault(reversed_by.event, []).append(
                    _CompiledReversal(
                        outcome=name,
                        matches=reversed_by.where.compile() if reversed_by.where else _always,
                        match_of=compile_getter(reversed_by.match),
                    )
                )

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
_GroupKey = tuple[str, str, str]


class OutcomeLedger:
    """Outcome state over a stream of events for one period, as of one time.

    Memory holds one entry per dedupe key (every candidate of a key only when the outcome can
    be reversed, since a later reversal may promote a later candidate), never the events.
    Candidates are plain tuples here; `resolve_key` decides only the keys that need it.

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
        self.customers: set[str] = set()
        self._single: dict[_GroupKey, _Kept] = {}
        self._several: dict[_GroupKey, list[_Kept]] = {}
        self._duplicates: dict[_GroupKey, int] = {}
        self._last_reversal: dict[tuple[str, str], dict[str, datetime]] = {}
        self._steps = {
            kind: [(o.name, o.matches, o.evaluate, o.reversible, o.group_of) for o in compiled]
            for kind, compiled in plan.outcomes_by_type.items()
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
        reversals_of = self.plan.reversals_by_type.get
        add_customer = self.customers.add
        single, several, duplicates = self._single, self._several, self._duplicates
        for event in events:
            ts = event.timestamp
            if ts > as_of:
                continue
            kind = event.type
            reversals = reversals_of(kind)
            if reversals is not None:
                self._add_reversals(event, reversals)
            if not start <= ts < end:
                continue
            customer = event.customer
            add_customer(customer)
            steps = steps_of(kind)
            if steps is None:
                continue
            for name, matches, evaluate, reversible, group_of in steps:
                if not matches(event):
                    continue
                key, match_key, value, problem = evaluate(event)
                dimension = None if group_of is None else group_of(event)
                kept: _Kept = (ts, event.id, match_key, value, problem, dimension)
                gkey = (customer, name, key)
                first = single.get(gkey)
                if first is None:
                    single[gkey] = kept
                elif reversible:
                    group = several.get(gkey)
                    if group is None:
                        several[gkey] = [first, kept]
                    else:
                        group.append(kept)
                else:
                    # Without reversals only the earliest candidate can ever count.
                    duplicates[gkey] = duplicates.get(gkey, 0) + 1
                    if (ts, event.id) < (first[0], first[1]):
                        single[gkey] = kept

    def _add_reversals(self, event: Event, reversals: list[_CompiledReversal]) -> None:
        for reversal in reversals:
            if not reversal.matches(event):
                continue
            hit = reversal.hit(event)
            if hit is None:
                continue
            latest = self._last_reversal.setdefault((event.customer, hit.outcome), {})
            seen = latest.get(hit.match_key)
            if seen is None or event.timestamp > seen:
                latest[hit.match_key] = event.timestamp

    def key_count(self) -> int:
        """Dedupe keys held in memory: what the ledger's memory grows with."""
        return len(self._single)

    def _winner(self, gkey: _GroupKey, first: _Kept, usage: OutcomeUsage) -> _Kept | None:
        """The candidate that counts for a key, tallying reversed and duplicate ones."""
        several = self._several.get(gkey)
        latest = self._last_reversal.get((gkey[0], gkey[1]))
        if several is None and (latest is None or first[2] not in latest):
            usage.duplicates += self._duplicates.get(gkey, 0)
            return first
        kept_by_id = {kept[1]: kept for kept in several or (first,)}
        resolution = resolve_key(
            [Candidate(k[1], k[0], k[2]) for k in kept_by_id.values()], latest or {}
        )
        usage.reversed += len(resolution.reversed)
        usage.duplicates += len(resolution.duplicates) + self._duplicates.get(gkey, 0)
        return None if resolution.winner is None else kept_by_id[resolution.winner.event_id]

    def resolve(self) -> dict[str, CustomerUsage]:
        """Every customer with an event in the period, with its usage per outcome."""
        specs = self.plan.rules.outcomes
        grouped = self.plan.rules.group_paths
        usages = {customer: CustomerUsage(customer) for customer in self.customers}
        tallies: dict[tuple[str, str], tuple[OutcomeUsage, Accumulator, timedelta]] = {}
        group_tallies: dict[tuple[str, str, str | None], tuple[OutcomeUsage, Accumulator]] = {}
        as_of = self.as_of
        for gkey, first in self._single.items():
            customer, outcome, _ = gkey
            tally = tallies.get((customer, outcome))
            if tally is None:
                spec = specs[outcome]
                tally = (
                    usages[customer].usage(outcome),
                    spec.measure.accumulator(),
                    spec.settle.after,
                )
                tallies[(customer, outcome)] = tally
            usage, accumulator, settle_after = tally
            winner = self._winner(gkey, first, usage)
            if winner is None:
                continue
            occurred_at, event_id, _, value, problem, group = winner
            if problem is not None:
                usages[customer].problems.append(Problem(event_id, outcome, problem))
            elif gkey in self.credited:
                usage.credited += 1
            elif occurred_at + settle_after > as_of:
                usage.pending += 1
            else:
                usage.billable += 1
                if isinstance(value, Decimal):
                    usage.values.append(value)
                accumulator.add(value, occurred_at, event_id)
                if outcome in grouped:
                    by_value = group_tallies.get((customer, outcome, group))
                    if by_value is None:
                        by_value = (OutcomeUsage(outcome), specs[outcome].measure.accumulator())
                        usage.groups[group] = by_value[0]
                        group_tallies[(customer, outcome, group)] = by_value
                    by_value[0].billable += 1
                    by_value[1].add(value, occurred_at, event_id)
        for usage, accumulator, _ in tallies.values():
            usage.quantity = accumulator.result()
        for usage, accumulator in group_tallies.values():
            usage.quantity = accumulator.result()
        return dict(sorted(usages.items()))
