"""One billable outcome per subject (`exclusive`) and verified outcomes (`confirmed_by`,
`rejected_by`) in the pure core: hand-computed prices, every arrival order, located errors."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing_rules.engine import price_events
from pricing_rules.errors import RuleFileError
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import OutcomeLedger, compile_plan
from pricing_rules.periods import Period

NOV = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
CLOSE = NOV.end + timedelta(days=3)

# Intercom's published table: 0.99 a resolution or a handoff, 9.99 a qualification, and only
# one outcome per conversation.
INTERCOM = """
plan: intercom
version: 1
currency: usd
exclusive:
  key: properties.conversation_id
  order: [qualification, resolution, handoff]
outcomes:
  qualification: {event: lead.qualified}
  resolution:
    event: conversation.resolved
    settle:
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
  handoff: {event: conversation.handed_off}
charges:
  - {name: Qualifications, outcome: qualification, model: per_unit, unit_price: "9.99"}
  - {name: Resolutions, outcome: resolution, model: per_unit, unit_price: "0.99"}
  - {name: Handoffs, outcome: handoff, model: per_unit, unit_price: "0.99"}
"""

VERIFIED = """
plan: verified
version: 1
currency: usd
outcomes:
  resolution:
    event: conversation.resolved
    unique_by: properties.conversation_id
    settle:
      after: 24h
      confirmed_by:
        event: resolution.verified
        match: properties.conversation_id
        where: {properties.verdict: {eq: resolved}}
        within: 72h
        otherwise: {otherwise}
      rejected_by:
        event: csat.submitted
        match: properties.conversation_id
        where: {properties.score: {lte: 3}}
    evidence: [properties.verdict]
charges:
  - {outcome: resolution, model: per_unit, unit_price: "0.99"}
"""


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def event(eid: str, kind: str, conv: str, when: datetime, **props: object) -> Event:
    return Event(eid, kind, "acme", when, {"conversation_id": conv, **props})


def total(rules_text: str, events: list[Event], as_of: datetime = CLOSE) -> Decimal:
    report = price_events(load_rules(rules_text, "plan.yaml"), events, NOV, as_of)
    return sum((c.invoice.total for c in report.customers), Decimal(0))


def usages(rules_text: str, events: list[Event], as_of: datetime = CLOSE):  # type: ignore[no-untyped-def]
    ledger = OutcomeLedger(compile_plan(load_rules(rules_text, "plan.yaml")), NOV, as_of)
    ledger.add_all(events)
    return ledger.resolve()["acme"]


def test_intercom_table_bills_one_outcome_per_conversation_by_precedence() -> None:
    events = [
        # c-1: resolved, then qualified: the qualification wins (9.99), the resolution is
        # superseded.
        event("e1", "conversation.resolved", "c-1", at(2)),
        event("e2", "lead.qualified", "c-1", at(3)),
        # c-2: handed off and resolved: the resolution wins (0.99).
        event("e3", "conversation.handed_off", "c-2", at(4)),
        event("e4", "conversation.resolved", "c-2", at(5)),
        # c-3: a handoff alone (0.99); c-4: a resolution alone (0.99).
        event("e5", "conversation.handed_off", "c-3", at(6)),
        event("e6", "conversation.resolved", "c-4", at(7)),
        # c-5: all three: one qualification (9.99).
        event("e7", "conversation.handed_off", "c-5", at(8)),
        event("e8", "conversation.resolved", "c-5", at(8, 1)),
        event("e9", "lead.qualified", "c-5", at(8, 2)),
    ]
    assert total(INTERCOM, events) == Decimal("22.95")  # 2 x 9.99 + 3 x 0.99
    found = usages(INTERCOM, events)
    assert found.usage("qualification").billable == 2
    assert found.usage("resolution").billable == 2
    assert found.usage("resolution").superseded == 2
    assert found.usage("handoff").billable == 1
    assert found.usage("handoff").superseded == 2


def test_a_reversed_winner_promotes_the_next_by_precedence() -> None:
    events = [
        event("e1", "conversation.handed_off", "c-1", at(2)),
        event("e2", "conversation.resolved", "c-1", at(3)),
    ]
    assert total(INTERCOM, events) == Decimal("0.99")
    reopened = [*events, event("e3", "conversation.reopened", "c-1", at(4))]
    found = usages(INTERCOM, reopened)
    assert found.usage("resolution").reversed == 1
    assert found.usage("handoff").billable == 1 and found.usage("handoff").superseded == 0
    assert total(INTERCOM, reopened) == Decimal("0.99")


def test_a_credited_winner_promotes_the_next_by_precedence() -> None:
    events = [
        event("e1", "lead.qualified", "c-1", at(2)),
        event("e2", "conversation.resolved", "c-1", at(3)),
    ]
    plan = compile_plan(load_rules(INTERCOM, "plan.yaml"))
    ledger = OutcomeLedger(plan, NOV, CLOSE, credited={("acme", "qualification", "c-1")})
    ledger.add_all(events)
    found = ledger.resolve()["acme"]
    assert found.usage("qualification").credited == 1
    assert found.usage("resolution").billable == 1
    assert found.usage("resolution").superseded == 0


SMALL_CASE = [
    event("e1", "conversation.handed_off", "c-1", at(2)),
    event("e2", "conversation.resolved", "c-1", at(3)),
    event("e3", "conversation.reopened", "c-1", at(4)),
    event("e4", "lead.qualified", "c-2", at(5)),
    event("e5", "conversation.resolved", "c-2", at(5)),
    event("e6", "conversation.resolved", "c-2", at(6)),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(SMALL_CASE)))))
def test_every_arrival_order_bills_the_same(order: tuple[int, ...]) -> None:
    # c-1: the resolution is reopened, so the handoff counts (0.99); c-2: the qualification
    # (9.99) supersedes a resolution and its duplicate.
    found = usages(INTERCOM, [SMALL_CASE[i] for i in order])
    assert (found.usage("handoff").billable, found.usage("qualification").billable) == (1, 1)
    assert found.usage("resolution").billable == 0
    assert found.usage("resolution").reversed == 1
    assert found.usage("resolution").superseded == 1
    assert found.usage("resolution").duplicates == 1


def test_confirmed_outcome_bills_and_unconfirmed_one_waits_then_drops() -> None:
    rules = VERIFIED.replace("{otherwise}", "drop")
    events = [
        event("e1", "conversation.resolved", "c-1", at(2)),
        event("v1", "resolution.verified", "c-1", at(3), verdict="resolved"),
        event("e2", "conversation.resolved", "c-2", at(2)),
        event("v2", "resolution.verified", "c-2", at(3), verdict="assisted"),  # not a match
        event("e3", "conversation.resolved", "c-3", at(2)),
        event("v3", "resolution.verified", "c-3", at(5, 1), verdict="resolved"),  # too late
    ]
    found = usages(rules, events).usage("resolution")
    assert (found.billable, found.awaiting) == (1, 2)
    assert total(rules, events) == Decimal("0.99")
    # Before its confirmation, the first waits too.
    assert usages(rules, events, as_of=at(2, 12)).usage("resolution").awaiting == 3


def test_otherwise_count_bills_an_unconfirmed_outcome_when_its_window_ends() -> None:
    rules = VERIFIED.replace("{otherwise}", "count")
    events = [event("e1", "conversation.resolved", "c-1", at(2))]
    assert usages(rules, events, as_of=at(4, 23)).usage("resolution").awaiting == 1
    assert usages(rules, events, as_of=at(5)).usage("resolution").billable == 1
    assert total(rules, events) == Decimal("0.99")


def test_a_low_csat_score_rejects_the_outcome() -> None:
    rules = VERIFIED.replace("{otherwise}", "count")
    events = [
        event("e1", "conversation.resolved", "c-1", at(2)),
        event("s1", "csat.submitted", "c-1", at(3), score=2),
        event("e2", "conversation.resolved", "c-2", at(2)),
        event("s2", "csat.submitted", "c-2", at(3), score=4),  # satisfied: no rejection
    ]
    found = usages(rules, events).usage("resolution")
    assert (found.billable, found.rejected) == (1, 1)
    assert total(rules, events) == Decimal("0.99")


def rule_errors(text: str) -> list[str]:
    with pytest.raises(RuleFileError) as raised:
        load_rules(text, "plan.yaml")
    return [str(error) for error in raised.value.errors]


def test_unknown_or_repeated_outcome_in_order_is_located() -> None:
    text = INTERCOM.replace("[qualification, resolution, handoff]", "[qualification, resolved]")
    assert rule_errors(text) == [
        "plan.yaml:7:26: order names unknown outcome 'resolved'; expected one of the outcomes "
        "of this file (handoff, qualification, resolution)"
    ]
    text = INTERCOM.replace("[qualification, resolution, handoff]", "[handoff, handoff]")
    assert rule_errors(text) == ["plan.yaml:7:20: outcome 'handoff' is listed twice in order"]


def test_exclusive_outcome_with_another_unique_by_is_located() -> None:
    text = INTERCOM.replace(
        "handoff: {event: conversation.handed_off}",
        "handoff: {event: conversation.handed_off, unique_by: properties.ticket}",
    )
    assert rule_errors(text) == [
        "plan.yaml:14:56: outcome 'handoff' is exclusive on properties.conversation_id, so its "
        "unique_by must be properties.conversation_id or left out (it is properties.ticket)"
    ]


def test_bad_confirmation_settings_are_located() -> None:
    text = VERIFIED.replace("{otherwise}", "later")
    assert rule_errors(text) == ["plan.yaml:16:20: expected one of drop, count, got 'later'"]
    text = VERIFIED.replace("{otherwise}", "drop").replace("within: 72h", "within: 0")
    assert rule_errors(text) == [
        "plan.yaml:15:17: within must be longer than 0, or no confirmation could ever come in "
        "time; expected a duration such as 72h"
    ]
    text = VERIFIED.replace("{otherwise}", "drop").replace(
        "event: resolution.verified", "event: csat.submitted"
    )
    assert rule_errors(text) == [
        "plan.yaml:12:16: confirmed_by.event 'csat.submitted' is also settle.rejected_by.event: "
        "no event can both make or cancel an outcome and confirm it; expected the event your "
        "verifier, survey or sign-off sends"
    ]
    text = VERIFIED.replace("{otherwise}", "drop").replace(
        "match: properties.conversation_id\n        where: {properties.score",
        "match: properties.ticket_id\n        where: {properties.score",
    )
    assert rule_errors(text) == [
        "plan.yaml:19:16: settle.rejected_by.match is properties.ticket_id but "
        "settle.confirmed_by.match is properties.conversation_id; expected one match path for "
        "every event that reverses, rejects or confirms an outcome"
    ]


def test_evidence_without_confirmation_is_located() -> None:
    text = INTERCOM.replace(
        "handoff: {event: conversation.handed_off}",
        "handoff: {event: conversation.handed_off, evidence: [properties.agent]}",
    )
    assert rule_errors(text) == [
        "plan.yaml:14:55: evidence is read on the confirming event; expected "
        "settle.confirmed_by on outcome 'handoff'"
    ]
