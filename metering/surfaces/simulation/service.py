"""Price a plan's stored history twice: under the versions in force and under a proposal.

Both sides run the pure core billing runs (`OutcomeLedger` then `price_customer`), period by
period, so the current side of a simulation equals the invoices the close issued. Events
stream customer by customer in time order; a period's ledger is dropped as soon as the
stream has passed its as-of time, so memory follows one customer's open periods (about
0.8 KB per event of that period, both sides together), never the range or the plan.
The caller passes a read-only session (`metering.surfaces.simulation.readonly`): nothing
here writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import groupby, islice

from sqlmodel import Session

from metering.billing.credits.ledger import LockedGrant
from metering.catalog.plans.models import Plan
from metering.catalog.subscriptions.repository import Term, terms_of
from metering.ledger.eventlog.config import eventlog_of
from metering.ledger.outcomes.limits import spend_limit as limit_of_customer
from metering.surfaces.simulation import repository
from metering.surfaces.simulation.commitments import TermConsumption
from metering.surfaces.simulation.credits import Drawdowns, PeriodDrawdown, drafts, grants_of
from metering.surfaces.simulation.repository import Credits, Streamed, Subscriber
from metering.surfaces.simulation.treatments import Treatment, TreatmentKey, TreatmentTracker
from metering.surfaces.simulation.windows import Side, Window, customer_windows
from pricing_rules import limits
from pricing_rules.engine import price_customer
from pricing_rules.events import Event
from pricing_rules.limits import MoneyLimit
from pricing_rules.outcomes import CompiledPlan, CustomerUsage, OutcomeLedger, compile_plan
from pricing_rules.pricing import PricedInvoice
from pricing_rules.rules import RuleFile

CUSTOMER_BATCH = 200
CHUNK_EVENTS = 2000
EXAMPLES = 20
ZERO = Decimal(0)

Progress = Callable[[int, int, int], None]
"""Called after each customer with (customers done, customers in all, events read)."""


class SimulationError(ValueError):
    """The simulation cannot be run as asked; the message says why and what to do."""


@dataclass(slots=True)
class CustomerResult:
    customer_id: str
    external_id: str
    current: Decimal = ZERO
    proposed: Decimal = ZERO
    periods: int = 0
    events: int = 0
    overridden: bool = False
    """Billed by its own override of a version of the plan in the range: the current side is
    its own prices, the proposed side the proposal's (an override does not follow it)."""
    over_limit: dict[Side, int] = field(default_factory=lambda: dict.fromkeys(Side, 0))
    """Outcomes held over a block limit (not billed), per side."""
    drawdowns: list[PeriodDrawdown] = field(default_factory=list)

    def credits(self, side: Side) -> Decimal:
        """What credits would have paid on that side."""
        return sum((d.drawn for d in self.drawdowns if d.side is side), ZERO)


Treatments = dict[TreatmentKey, Treatment]
ChangeKind = tuple[str, Treatment, Treatment]
"""(outcome, treatment now, treatment under the proposal)."""


@dataclass(frozen=True, slots=True)
class ChangedEvent:
    event_id: str
    customer: str
    outcome: str
    current: Treatment
    proposed: Treatment


@dataclass(slots=True)
class SimulationResult:
    plan_id: str
    plan_slug: str
    proposed: RuleFile
    current_versions: list[int]
    start: datetime
    end: datetime
    as_of: datetime
    customers: list[CustomerResult] = field(default_factory=list)
    changes: Counter[ChangeKind] = field(default_factory=Counter)
    examples: list[ChangedEvent] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.proposed.currency

    @property
    def events(self) -> int:
        return sum(c.events for c in self.customers)


class _PeriodRun:
    """One window being fed: the ledger that prices it and the tracker that explains it."""

    def __init__(self, window: Window, credited: Collection[tuple[str, str, str]]) -> None:
        self.window = window
        self.ledger = OutcomeLedger(window.plan, window.period, window.as_of, credited)
        self.tracker = TreatmentTracker(window.plan, window.period, window.as_of)

    def add_all(self, events: Sequence[Event]) -> None:
        self.ledger.add_all(events)
        self.tracker.add_all(events)

    def finish(
        self, customer: str, consumed: TermConsumption, spend_limit: MoneyLimit | None
    ) -> tuple[PricedInvoice, Treatments, int]:
        """The period's invoice (flat fees and minimum also without events, and the
        commitment's lines from what the term used before it), without the outcomes a block
        limit holds, as the ledger holds them (`pricing_rules.limits.over_limit`)."""
        rules = self.window.plan.rules
        held = self._held(customer, rules, spend_limit)
        usage = self.ledger.resolve(held).get(customer) or CustomerUsage(customer)
        position, key = consumed.position(self.window)
        priced = price_customer(rules, usage, position)
        consumed.add(key, rules, usage, priced)
        treatments = self.tracker.resolve()
        for event_id_outcome in held:
            treatments[(event_id_outcome[1], event_id_outcome[0])] = Treatment.OVER_LIMIT
        return priced, treatments, len(held)

    def _held(
        self, customer: str, rules: RuleFile, spend_limit: MoneyLimit | None
    ) -> set[tuple[str, str]]:
        """(outcome, event id) of the winners past a block limit of this period."""
        if not limits.has_blocking_limits(rules, spend_limit):
            return set()
        amount = limits.blocking_amount(limits.money_limits(rules, spend_limit))
        usage = self.ledger.resolve(keep_winners=True).get(customer)
        if usage is None:
            return set()
        candidates = [
            limits.LimitCandidate(
                ref,
                w.outcome,
                w.occurred_at,
                w.event_id,
                w.value if isinstance(w.value, Decimal) else None,
            )
            for ref, w in enumerate(usage.winners)
        ]
        over = limits.over_limit(rules, candidates, amount)
        return {(c.outcome, c.event_id) for c in candidates if c.ref in over}


def _chunks(events: Iterable[Streamed], size: int) -> Iterator[list[Streamed]]:
    iterator = iter(events)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _as_of(chunk: list[Streamed], as_of: datetime) -> list[Event]:
    """The chunk's events not voided by `as_of`: a void counts from when it was recorded,
    as at the close."""
    return [event for event, voided in chunk if voided is None or voided > as_of]


class _Comparison:
    """One customer's treatments, compared side against side as periods finish.

    A period priced on both sides (the proposal kept the interval) is compared as soon as
    both are done and then dropped; periods cut differently wait for the customer's end.
    """

    def __init__(self, simulation: SimulationResult, customer: str, examples: int) -> None:
        self.simulation = simulation
        self.customer = customer
        self.examples = examples
        self.waiting: dict[tuple[datetime, datetime], dict[Side, Treatments]] = {}

    def add(self, window: Window, treatments: Treatments) -> None:
        span = (window.period.start, window.period.end)
        sides = self.waiting.setdefault(span, {})
        sides[window.side] = treatments
        if len(sides) == len(Side):
            del self.waiting[span]
            self._compare(sides[Side.CURRENT], sides[Side.PROPOSED])

    def finish(self) -> None:
        merged: dict[Side, Treatments] = {side: {} for side in Side}
        for sides in self.waiting.values():
            for side, treatments in sides.items():
                merged[side].update(treatments)
        self.waiting.clear()
        self._compare(merged[Side.CURRENT], merged[Side.PROPOSED])

    def _compare(self, current: Treatments, proposed: Treatments) -> None:
        simulation = self.simulation
        for key in sorted(current.keys() | proposed.keys()):
            before = current.get(key, Treatment.NOT_MATCHED)
            after = proposed.get(key, Treatment.NOT_MATCHED)
            if before == after:
                continue
            simulation.changes[(key[1], before, after)] += 1
            if len(simulation.examples) < self.examples:
                simulation.examples.append(
                    ChangedEvent(key[0], self.customer, key[1], before, after)
                )


def _run_customer(
    simulation: SimulationResult,
    subscriber: Subscriber,
    windows: Sequence[Window],
    events: Iterable[Streamed],
    examples: int,
    credited: Credits,
    overridden: bool,
    anchor: datetime | None = None,
    grants: Sequence[LockedGrant] = (),
) -> None:
    """Feed one customer's time-ordered events to each window while it is open.

    Keys the vendor credited (accepted disputes) stay credited on both sides, by outcome
    name and dedupe key, in the period they were credited in, from when they were: each
    window sees the voids and credits recorded by its as-of time, as the close does.
    """
    result = CustomerResult(
        subscriber.id,
        subscriber.external_id,
        periods=len(windows),
        overridden=overridden,
    )

    def run_of(window: Window) -> _PeriodRun:
        keys = {
            (subscriber.external_id, outcome, key)
            for (outcome, period_start, key), accepted in credited.items()
            if period_start == window.period.start and accepted <= window.as_of
        }
        return _PeriodRun(window, keys)

    comparison = _Comparison(simulation, subscriber.external_id, examples)
    consumed = TermConsumption(anchor)
    drawdowns = Drawdowns(grants)
    spend_limit = limit_of_customer(subscriber.spend_limit_amount, subscriber.spend_limit_on_reach)
    waiting = list(windows)  # earliest period first
    running: list[_PeriodRun] = []

    def finish(run: _PeriodRun) -> None:
        window = run.window
        priced, treatments, held = run.finish(subscriber.external_id, consumed, spend_limit)
        if window.side is Side.CURRENT:
            result.current += priced.total
        else:
            result.proposed += priced.total
        result.over_limit[window.side] += held
        if grants:  # drafting lines costs a little per period: only when credits may pay
            drawdowns.add(window, drafts(window.plan.rules, priced, window))
        comparison.add(window, treatments)

    for chunk in _chunks(events, CHUNK_EVENTS):
        result.events += sum(1 for _, voided in chunk if voided is None)
        first, last = chunk[0][0].timestamp, chunk[-1][0].timestamp
        while waiting and waiting[0].period.start <= last:
            running.append(run_of(waiting.pop(0)))
        for run in running:
            if run.window.as_of >= first:
                run.add_all(_as_of(chunk, run.window.as_of))
        for run in [r for r in running if r.window.as_of < last]:
            finish(run)
            running.remove(run)
    for run in [*running, *(run_of(w) for w in waiting)]:
        finish(run)
    comparison.finish()
    result.drawdowns = drawdowns.draw()
    simulation.customers.append(result)


def _terms_on_plan(
    session: Session, customer_ids: Sequence[str], versions: set[str]
) -> dict[str, list[Term]]:
    return {
        customer_id: [t for t in terms if t.plan.version_id in versions]
        for customer_id, terms in terms_of(session, customer_ids).items()
    }


def _check_currency(terms: dict[str, list[Term]], proposed: RuleFile) -> list[int]:
    """The version numbers in force; SimulationError when one bills in another currency."""
    numbers: set[int] = set()
    for term in (t for found in terms.values() for t in found):
        rules = term.plan.plan.rules
        numbers.add(rules.version)
        if rules.currency != proposed.currency:
            raise SimulationError(
                f"the proposed file bills in {proposed.currency.upper()} but version "
                f"{rules.version} of plan '{rules.plan}' bills in {rules.currency.upper()}: "
                "amounts in two currencies cannot be compared; simulate the price change in "
                f"{rules.currency.upper()}, then change the currency in a version of its own"
            )
    return sorted(numbers)


def _report(progress: Progress | None, done: int, total: int, simulation: SimulationResult) -> None:
    if progress is not None:
        progress(done, total, simulation.events)


def simulate(
    session: Session,
    plan: Plan,
    proposed: RuleFile,
    start: datetime,
    end: datetime,
    now: datetime,
    progress: Progress | None = None,
    examples: int = EXAMPLES,
) -> SimulationResult:
    """Price the plan's subscribers' events in the periods overlapping [start, end) both ways."""
    if start >= end:
        raise SimulationError(f"the range is empty: from {start.isoformat()} is not before to")
    if start >= now:
        raise SimulationError(f"the range starts at {start.isoformat()}, after now: no history")
    subscribers = repository.subscribers(session, plan.id, start, end)
    terms = _terms_on_plan(
        session, [s.id for s in subscribers], repository.version_ids(session, plan.id)
    )
    simulation = SimulationResult(
        plan.id, plan.slug, proposed, _check_currency(terms, proposed), start, end, now
    )
    compiled: CompiledPlan = compile_plan(proposed)
    windows = {
        s.id: customer_windows(terms.get(s.id, []), compiled, start, end, now) for s in subscribers
    }
    credited = repository.credited_keys(session, [s.id for s in subscribers])
    grants = grants_of(session, [s.id for s in subscribers], proposed.currency)

    def overridden(customer_id: str) -> bool:
        return any(term.plan.overridden for term in terms.get(customer_id, []))

    def anchor(customer_id: str) -> datetime | None:
        """Where the customer's commitment terms start: its first subscription to the plan."""
        return min((term.starts_at for term in terms.get(customer_id, [])), default=None)

    done = 0
    log = eventlog_of(session, plan.vendor_id)
    for offset in range(0, len(subscribers), CUSTOMER_BATCH):
        batch = subscribers[offset : offset + CUSTOMER_BATCH]
        spans = [w for s in batch for w in windows[s.id]]
        since = min((w.period.start for w in spans), default=start)
        until = max((w.as_of for w in spans), default=start)
        by_id = {s.id: s for s in batch}
        logged = repository.LogOnly(log, plan.vendor_id, since, until)
        stream = repository.stream_events(session, plan.vendor_id, list(by_id), since, until)
        for customer_id, rows in groupby(stream, key=lambda row: row[0]):
            subscriber = by_id.pop(customer_id)
            events = logged.of(customer_id, ((event, voided) for _, event, voided in rows))
            _run_customer(
                simulation,
                subscriber,
                windows[customer_id],
                events,
                examples,
                credited.get(customer_id, {}),
                overridden(customer_id),
                anchor(customer_id),
                grants.get(customer_id, ()),
            )
            done += 1
            _report(progress, done, len(subscribers), simulation)
        for subscriber in by_id.values():  # no event in the range in the SQL store
            _run_customer(
                simulation,
                subscriber,
                windows[subscriber.id],
                logged.of(subscriber.id, ()),
                examples,
                credited.get(subscriber.id, {}),
                overridden(subscriber.id),
                anchor(subscriber.id),
                grants.get(subscriber.id, ()),
            )
            done += 1
            _report(progress, done, len(subscribers), simulation)
    simulation.customers.sort(key=lambda c: c.external_id)
    return simulation
