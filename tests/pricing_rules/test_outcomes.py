"""Outcome state: dedupe, settle, reversal, and order independence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import Candidate, OutcomeLedger, compile_plan, resolve_key
from pricing_rules.periods import Period

NOV = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))

RULES = load_rules(
    """
plan: t
version: 1
currency: usd
outcomes:
  resolved:
    event: conversation.resolved
    where: {properties.handled_by: {eq: ai}}
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  deal:
    event: deal.closed
    measure: {sum: properties.amount}
charges:
  - {outcome: resolved, model: per_unit, unit_price: "1.00"}
  - {outcome: deal, model: percentage, rate: "10"}
""",
    "t.yaml",
)
PLAN = compile_plan(RULES)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def resolved(eid: str, conv: str, when: datetime, customer: str = "acme", by: str = "ai") -> Event:
    props = {"conversation_id": conv, "handled_by": by}
    return Event(eid, "conversation.resolved", customer, when, props)


def reopened(eid: str, conv: str, when: datetime, customer: str = "acme") -> Event:
    return Event(eid, "conversation.reopened", customer, when, {"conversation_id": conv})


def usage_of(events: list[Event], as_of: datetime = NOV.end, customer: str = "acme"):  # type: ignore[no-untyped-def]
    ledger = OutcomeLedger(PLAN, NOV, as_of)
    ledger.add_all(events)
    return ledger.resolve()[customer].usage("resolved")


def test_classify_reports_candidate_and_reversal_hits() -> None:
    hit = PLAN.classify(resolved("e1", "c-1", at(2)))
    assert [(h.outcome, h.dedupe_key, h.match_key) for h in hit.outcomes] == [
        ("resolved", "c-1", "c-1")
    ]
    assert hit.outcomes[0].settles_at == at(5)
    rev = PLAN.classify(reopened("e2", "c-1", at(3)))
    assert [(r.outcome, r.match_key) for r in rev.reversals] == [("resolved", "c-1")]
    assert not PLAN.classify(resolved("e3", "c-1", at(2), by="human")).matched
    assert not PLAN.classify(Event("e4", "other", "acme", at(2))).matched


def test_missing_unique_by_value_is_a_problem_not_a_charge() -> None:
    event = Event("e1", "conversation.resolved", "acme", at(2), {"handled_by": "ai"})
    ledger = OutcomeLedger(PLAN, NOV, NOV.end)
    ledger.add(event)
    usage = ledger.resolve()["acme"]
    assert usage.usage("resolved").billable == 0
    assert [(p.event_id, p.message) for p in usage.problems] == [
        ("e1", "properties.conversation_id is missing, so the outcome cannot be deduplicated")
    ]


def test_first_event_counts_and_later_ones_are_duplicates() -> None:
    usage = usage_of([resolved("e2", "c-1", at(3)), resolved("e1", "c-1", at(2))])
    assert (usage.billable, usage.duplicates, usage.quantity) == (1, 1, Decimal(1))


def test_a_credited_key_is_never_billed_nor_replaced_by_its_duplicates() -> None:
    """An accepted dispute credits the key: its winner is credited, pending or settled, and
    a later event for the same conversation is not promoted in its place."""
    events = [
        resolved("e1", "c-1", at(2)),
        resolved("e2", "c-1", at(3)),
        resolved("e3", "c-2", at(4)),
    ]
    ledger = OutcomeLedger(PLAN, NOV, NOV.end, credited={("acme", "resolved", "c-1")})
    ledger.add_all(events)
    usage = ledger.resolve()["acme"].usage("resolved")
    assert (usage.billable, usage.credited, usage.duplicates, usage.quantity) == (1, 1, 1, 1)
    pending = OutcomeLedger(PLAN, NOV, at(4), credited={("acme", "resolved", "c-1")})
    pending.add_all(events)
    assert pending.resolve()["acme"].usage("resolved").pending == 1  # c-2 only
    other = OutcomeLedger(PLAN, NOV, NOV.end, credited={("globex", "resolved", "c-1")})
    other.add_all(events)
    assert other.resolve()["acme"].usage("resolved").billable == 2


def test_settle_window_is_inclusive_of_as_of() -> None:
    events = [resolved("e1", "c-1", at(2, 12))]
    assert usage_of(events, as_of=at(5, 12)).billable == 1
    pending = usage_of(events, as_of=at(5, 11))
    assert (pending.billable, pending.pending) == (0, 1)


def test_reopen_reverses_and_a_new_resolution_counts_again() -> None:
    events = [resolved("e1", "c-1", at(2)), reopened("e2", "c-1", at(3))]
    usage = usage_of(events)
    assert (usage.billable, usage.reversed) == (0, 1)
    usage = usage_of([*events, resolved("e3", "c-1", at(10))])
    assert (usage.billable, usage.reversed, usage.duplicates) == (1, 1, 0)


def test_reopen_before_the_resolution_does_not_reverse_it() -> None:
    usage = usage_of([reopened("e0", "c-1", at(1)), resolved("e1", "c-1", at(2))])
    assert (usage.billable, usage.reversed) == (1, 0)


def test_reversal_after_as_of_is_not_seen_yet() -> None:
    events = [resolved("e1", "c-1", at(2)), reopened("e2", "c-1", at(20))]
    usage = usage_of(events, as_of=at(10))
    assert (usage.billable, usage.reversed) == (1, 0)


def test_reversal_after_period_end_still_reverses_when_before_as_of() -> None:
    events = [
        resolved("e1", "c-1", at(29)),
        reopened("e2", "c-1", datetime(2026, 12, 2, tzinfo=UTC)),
    ]
    usage = usage_of(events, as_of=datetime(2026, 12, 4, tzinfo=UTC))
    assert (usage.billable, usage.reversed) == (0, 1)


def test_events_outside_the_period_do_not_count() -> None:
    oct_event = resolved("e0", "c-1", datetime(2026, 10, 31, 23, 59, tzinfo=UTC))
    ledger = OutcomeLedger(PLAN, NOV, NOV.end)
    ledger.add(oct_event)
    assert ledger.resolve() == {}


def test_resolve_key_ties_break_on_event_id() -> None:
    same = at(2)
    resolution = resolve_key([Candidate("b", same, "k"), Candidate("a", same, "k")], {})
    assert resolution.winner is not None and resolution.winner.event_id == "a"
    assert [c.event_id for c in resolution.duplicates] == ["b"]


def test_reversal_at_the_same_instant_reverses() -> None:
    resolution = resolve_key([Candidate("a", at(2), "k")], {"k": at(2)})
    assert resolution.winner is None and len(resolution.reversed) == 1


_kinds = st.sampled_from(["resolve", "reopen"])
_steps = st.lists(
    st.tuples(_kinds, st.sampled_from(["c-1", "c-2", "c-3"]), st.integers(1, 29)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(_steps, st.randoms(use_true_random=False))
def test_arrival_order_never_changes_the_result(steps, rnd: random.Random) -> None:  # type: ignore[no-untyped-def]
    events = [
        (resolved if kind == "resolve" else reopened)(f"e{i}", conv, at(day))
        for i, (kind, conv, day) in enumerate(steps)
    ]
    shuffled = list(events)
    rnd.shuffle(shuffled)
    first, second = usage_of(events), usage_of(shuffled)
    assert (first.billable, first.reversed, first.duplicates, first.pending) == (
        second.billable,
        second.reversed,
        second.duplicates,
        second.pending,
    )


@settings(max_examples=100, deadline=None)
@given(_steps)
def test_each_candidate_is_counted_reversed_or_duplicate_exactly_once(steps) -> None:  # type: ignore[no-untyped-def]
    events = [
        (resolved if kind == "resolve" else reopened)(f"e{i}", conv, at(day))
        for i, (kind, conv, day) in enumerate(steps)
    ]
    usage = usage_of(events, as_of=NOV.end + timedelta(days=10))
    candidates = sum(1 for kind, _, _ in steps if kind == "resolve")
    assert usage.billable + usage.pending + usage.reversed + usage.duplicates == candidates
    assert usage.billable <= len({conv for kind, conv, _ in steps if kind == "resolve"})


def test_sum_measure_values_and_value_problems() -> None:
    events = [
        Event("d1", "deal.closed", "acme", at(2), {"amount": Decimal("100.50")}),
        Event("d2", "deal.closed", "acme", at(3), {"amount": "20"}),
        Event("d3", "deal.closed", "acme", at(4), {"amount": "lots"}),
        Event("d4", "deal.closed", "acme", at(5), {}),
    ]
    ledger = OutcomeLedger(PLAN, NOV, NOV.end)
    ledger.add_all(events)
    usage = ledger.resolve()["acme"]
    deal = usage.usage("deal")
    assert (deal.quantity, deal.billable, sorted(deal.values)) == (
        Decimal("120.50"),
        2,
        [Decimal("20"), Decimal("100.50")],
    )
    assert sorted(p.event_id for p in usage.problems) == ["d3", "d4"]


def test_numeric_keys_dedupe_whatever_their_json_spelling() -> None:
    events = [
        resolved("e1", 7, at(2)),  # type: ignore[arg-type]
        resolved("e2", 7.0, at(3)),  # type: ignore[arg-type]
        resolved("e3", Decimal("7.00"), at(4)),  # type: ignore[arg-type]
        resolved("e4", "7", at(5)),
    ]
    usage = usage_of(events)
    assert (usage.billable, usage.duplicates) == (1, 3)


def test_period_of_follows_the_plan_timezone_across_calls() -> None:
    rules = RULES.model_copy(
        update={"billing": RULES.billing.model_copy(update={"timezone": "America/New_York"})}
    )
    plan = compile_plan(rules)
    november = plan.period_of(datetime(2026, 11, 15, tzinfo=UTC))
    assert plan.period_of(datetime(2026, 11, 20, tzinfo=UTC)) is november
    # 03:00 UTC on Dec 1 is still Nov 30 in New York; 05:00 UTC is December there.
    assert plan.period_of(datetime(2026, 12, 1, 3, tzinfo=UTC)) == november
    december = plan.period_of(datetime(2026, 12, 1, 5, tzinfo=UTC))
    assert december.start == datetime(2026, 12, 1, 5, tzinfo=UTC)
    assert plan.period_of(datetime(2026, 10, 31, 12, tzinfo=UTC)).end == november.start


def test_resolve_keeps_the_billed_winners_and_leaves_held_ones_out() -> None:
    """Three conversations (c1 reported twice) and a deal of 40: the winners are e1, e3, e4
    and the deal; holding e3 and the deal leaves 2 resolutions and no deal billed, and
    counts them over_limit. A winner still pending is a winner too."""
    ledger = OutcomeLedger(PLAN, NOV, at(30))
    ledger.add_all(
        [
            resolved("e1", "c1", at(2)),
            resolved("e2", "c1", at(3)),
            resolved("e3", "c2", at(4)),
            resolved("e4", "c3", at(29)),  # pending as of Nov 30 (72h)
            Event("d1", "deal.closed", "acme", at(5), {"amount": "40"}),
        ]
    )

    kept = ledger.resolve(keep_winners=True)["acme"]
    held = ledger.resolve(held={("resolved", "e3"), ("deal", "d1")})["acme"]

    assert sorted((w.outcome, w.event_id, w.value) for w in kept.winners) == [
        ("deal", "d1", Decimal("40")),
        ("resolved", "e1", None),
        ("resolved", "e3", None),
        ("resolved", "e4", None),
    ]
    resolutions, deals = held.outcomes["resolved"], held.outcomes["deal"]
    assert (resolutions.billable, resolutions.pending, resolutions.over_limit) == (1, 1, 1)
    assert (deals.billable, deals.quantity, deals.over_limit) == (0, Decimal(0), 1)
    assert held.winners == []
