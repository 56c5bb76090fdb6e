"""A rule file compiled once into per-event-type closures: the per-event step
(`CompiledPlan.classify`) the storage layer and the in-memory ledger share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pricing_rules.events import Event
from pricing_rules.measures import Count, MeasureProblem, MeasureValue
from pricing_rules.outcomes.classification import (
    UNMATCHED,
    ClaimKind,
    Classification,
    OutcomeHit,
    ReversalHit,
)
from pricing_rules.outcomes.key_resolution import Verification
from pricing_rules.paths import MISSING, Getter, canonical_key, compile_getter, top_property
from pricing_rules.periods import Period, period_containing
from pricing_rules.rules import ConfirmedBy, OutcomeSpec, RejectedBy, ReversedBy, RuleFile


@dataclass(frozen=True, slots=True)
class CompiledOutcome:
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
class CompiledClaim:
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


def always_matches(event: Event) -> bool:
    """The test of an outcome or claim without `where`: the ledger's hot loops skip it."""
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
) -> CompiledOutcome:
    settle = spec.settle
    confirmed_by = settle.confirmed_by
    match_path = next((c.match for c in _claims(spec) if c is not None), None)
    return CompiledOutcome(
        name=name,
        matches=spec.where.compile() if spec.where is not None else always_matches,
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
        self.outcomes_by_type: dict[str, list[CompiledOutcome]] = {}
        self.reversals_by_type: dict[str, list[CompiledClaim]] = {}
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
                        CompiledClaim(
                            outcome=name,
                            matches=claim.where.compile() if claim.where else always_matches,
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
