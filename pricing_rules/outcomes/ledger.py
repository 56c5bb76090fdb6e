"""`OutcomeLedger`: outcome state over a stream of events in memory, for pricing a file,
simulating or benchmarking, under the same rules as stored outcome rows."""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from pricing_rules.events import Event
from pricing_rules.measures import Count
from pricing_rules.outcomes.classification import ClaimKind
from pricing_rules.outcomes.compiled_plan import CompiledPlan, always_matches
from pricing_rules.outcomes.key_resolution import NO_CLAIMS, Candidate, resolve_key
from pricing_rules.outcomes.tally import ClaimStep, ConfirmationTimes, CustomerKey, Kept, Tally
from pricing_rules.outcomes.usage import CustomerUsage, OutcomeUsage, Problem
from pricing_rules.paths import MISSING, canonical_key
from pricing_rules.periods import Period


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
        self._single: dict[str, dict[CustomerKey, Kept]] = {}
        """Per customer with an event in the period (even one that is no outcome), the kept
        candidate of each key."""
        self._several: dict[str, dict[CustomerKey, list[Kept]]] = {}
        """Per customer, every candidate of a reversible key that had more than one."""
        self._duplicates: dict[str, dict[CustomerKey, int]] = {}
        """Per customer, the later candidates of a key that cannot be reversed, counted."""
        self._last_reversal: dict[tuple[str, str], dict[str, datetime]] = {}
        self._last_rejection: dict[tuple[str, str], dict[str, datetime]] = {}
        self._confirmations: dict[tuple[str, str], dict[str, ConfirmationTimes]] = {}
        self._steps = {
            kind: [
                (o.name, _where(o.matches), o.evaluate, o.reversible, o.group_of) for o in compiled
            ]
            for kind, compiled in plan.outcomes_by_type.items()
        }
        stores: dict[ClaimKind, dict[tuple[str, str], dict[str, Any]]] = {
            ClaimKind.REVERSAL: self._last_reversal,
            ClaimKind.REJECTION: self._last_rejection,
            ClaimKind.CONFIRMATION: self._confirmations,
        }
        self._claims: dict[str, list[ClaimStep]] = {
            kind: [
                (
                    r.outcome,
                    _where(r.matches),
                    r.match_of,
                    stores[r.kind],
                    r.kind is ClaimKind.CONFIRMATION,
                )
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
                if matches is not None and not matches(event):
                    continue
                key, match_key, value, problem = evaluate(event)
                dimension = None if group_of is None else group_of(event)
                kept: Kept = (ts, event.id, match_key, value, problem, dimension)
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

    def _add_several(self, customer: str, skey: CustomerKey, first: Kept, kept: Kept) -> None:
        """Another candidate of a reversible key: all are kept, a reversal of the first may
        promote a later one."""
        groups = self._several.setdefault(customer, {})
        group = groups.get(skey)
        if group is None:
            groups[skey] = [first, kept]
        else:
            group.append(kept)

    def _add_claims(self, event: Event, claims: list[ClaimStep]) -> None:
        """Keep each claim: the latest reversal and rejection of a match key, every
        confirmation (a candidate's window picks its own).

        Most match keys get one confirmation: it is kept in a tuple, which the garbage
        collector stops tracking, not in a list that every full collection (during pricing,
        after `resolve`) would walk; a second one makes a list."""
        ts = event.timestamp
        for outcome, matches, match_of, store, confirms in claims:
            if matches is not None and not matches(event):
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
    ) -> Tally:
        spec = self.plan.rules.outcomes[outcome]
        group = (customer, outcome)
        verification = self.plan.verification.get(outcome)
        order = self.plan.exclusive_order
        exclusive = outcome in order
        return Tally(
            usage,
            spec.measure.accumulator(),
            self.as_of - spec.settle.after,
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
        self, first: Kept, several: list[Kept] | None, duplicates: int, tally: Tally
    ) -> Kept | None:
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
            latest or NO_CLAIMS,
            rejections or NO_CLAIMS,
            awaiting,
        )
        usage.reversed += len(resolution.reversed)
        usage.rejected += len(resolution.rejected)
        usage.awaiting += len(resolution.awaiting)
        usage.duplicates += len(resolution.duplicates) + duplicates
        return None if resolution.winner is None else kept_by_id[resolution.winner.event_id]

    def resolve(
        self, held: Collection[tuple[str, str]] = frozenset(), keep_winners: bool = False
    ) -> dict[str, CustomerUsage]:
        """Every customer with an event in the period, with its usage per outcome.

        `held`: (outcome, event id) of billed winners held over a block limit, counted as
        `over_limit` instead (a limit decides on `winners`, kept when `keep_winners`).
        Resolving again with other arguments gives the same keys the same winners."""
        collecting = gc.isenabled()
        gc.disable()  # as in `add_all`: the tuples made here form no cycle either
        held_by: dict[str, set[str]] = {}
        for outcome, event_id in held:
            held_by.setdefault(outcome, set()).add(event_id)
        try:
            return self._resolve(held_by, keep_winners)
        finally:
            if collecting:
                gc.enable()

    def _resolve(
        self, held: Mapping[str, Collection[str]], keep_winners: bool
    ) -> dict[str, CustomerUsage]:
        usages = {}
        for customer, keys in sorted(self._single.items()):
            usages[customer] = usage = CustomerUsage(customer)
            self._resolve_customer(usage, keys, held, keep_winners)
        return usages

    def _resolve_customer(
        self,
        usage: CustomerUsage,
        keys: dict[CustomerKey, Kept],
        held: Mapping[str, Collection[str]],
        keep_winners: bool,
    ) -> None:
        """One customer's keys, in the order they were first seen: the hot loop of `resolve`."""
        customer = usage.customer
        tallies: dict[str, Tally] = {}
        # The best place in `exclusive.order` billed per subject, and every billed winner of
        # an exclusive outcome: counted once all of the customer's keys are known.
        subjects: dict[str, int] = {}
        contenders: list[tuple[Tally, str, Kept]] = []
        several = self._several.get(customer, _NO_GROUPS)
        duplicates = self._duplicates.get(customer, _NO_COUNTS)
        credited, as_of = self.credited, self.as_of
        for skey, first in keys.items():
            outcome, key = skey
            tally = tallies.get(outcome)
            if tally is None:
                tally = self._tally(customer, outcome, usage.usage(outcome), subjects)
                tally.held = held.get(outcome, ())
                if keep_winners:
                    tally.winners = usage.winners
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
                winner: Kept | None = first
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
                    tally.count(winner)
            else:
                tally.count(winner)
        # In the order they were found (reading the kept candidates in memory order).
        for tally, key, winner in contenders:
            if subjects[key] == tally.place:
                tally.count(winner)
            else:
                tally.usage.superseded += 1
        for tally in tallies.values():
            tally.finish()


_NO_GROUPS: Mapping[CustomerKey, list[Kept]] = {}
_NO_TIMES: Mapping[str, ConfirmationTimes] = {}
_NO_COUNTS: Mapping[CustomerKey, int] = {}


def _where(matches: Callable[[Event], bool]) -> Callable[[Event], bool] | None:
    """A step's `where` test, None when it has none (a call saved per event)."""
    return None if matches is always_matches else matches
