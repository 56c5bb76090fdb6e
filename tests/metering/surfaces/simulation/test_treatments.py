"""The per-event treatments a simulation compares: the same decisions as storage makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metering.surfaces.simulation.treatments import Treatment, TreatmentTracker
from pricing_rules.events import Event
from pricing_rules.loader import load_rules
from pricing_rules.outcomes import compile_plan
from pricing_rules.periods import period_from_label

RULES = """
plan: p
version: 1
currency: usd
outcomes:
  resolved:
    event: conversation.resolved
    where: {properties.channel: {eq: chat}}
    unique_by: properties.conversation_id
    settle:
      after: 24h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
charges:
  - {outcome: resolved, model: per_unit, unit_price: "1.00"}
"""
NOVEMBER = period_from_label("2026-11", "month", "UTC")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def resolved(
    event_id: str, when: datetime, conversation: str | None, channel: str = "chat"
) -> Event:
    properties = {"channel": channel}
    if conversation is not None:
        properties["conversation_id"] = conversation
    return Event(event_id, "conversation.resolved", "acme", when, properties)


def test_each_event_gets_the_treatment_storage_would_give_it() -> None:
    tracker = TreatmentTracker(compile_plan(load_rules(RULES)), NOVEMBER, at(30))
    tracker.add_all(
        [
            resolved("first", at(2), "c1"),
            resolved("again", at(3), "c1"),
            resolved("phone", at(4), "c2", channel="phone"),
            resolved("undone", at(5), "c3"),
            Event("reopen", "conversation.reopened", "acme", at(6), {"conversation_id": "c3"}),
            resolved("late", at(29, 20), "c4"),
            resolved("keyless", at(7), None),
            Event("other", "deal.closed", "acme", at(8), {}),
            resolved("after-as-of", at(30, 13), "c5"),
        ]
    )
    treatments = {event_id: t for (event_id, _), t in tracker.resolve().items()}
    assert treatments == {
        "first": Treatment.COUNTED,
        "again": Treatment.DEDUPLICATED,
        "phone": Treatment.EXCLUDED,
        "undone": Treatment.REVERSED,
        "late": Treatment.PENDING,
        "keyless": Treatment.PROBLEM,
    }


def test_a_reversal_after_the_period_counts_until_as_of() -> None:
    period_end = NOVEMBER.end
    events = [
        resolved("r", at(29), "c1"),
        Event(
            "reopen",
            "conversation.reopened",
            "acme",
            period_end + timedelta(hours=1),
            {"conversation_id": "c1"},
        ),
    ]
    plan = compile_plan(load_rules(RULES))
    before = TreatmentTracker(plan, NOVEMBER, period_end)
    after = TreatmentTracker(plan, NOVEMBER, period_end + timedelta(hours=2))
    for tracker in (before, after):
        tracker.add_all(events)
    assert before.resolve() == {("r", "resolved"): Treatment.COUNTED}
    assert after.resolve() == {("r", "resolved"): Treatment.REVERSED}


def test_exclusive_and_verified_outcomes_get_their_own_treatments() -> None:
    """The example plan's events: superseded, rejected and unverified outcomes are named."""
    from pathlib import Path

    from pricing_rules.event_lines import read_event_lines

    examples = Path(__file__).parents[4] / "pricing_rules" / "examples"
    rules = load_rules((examples / "support-outcomes.yaml").read_text())
    events = read_event_lines((examples / "support-outcomes-events.jsonl").read_text().splitlines())
    tracker = TreatmentTracker(compile_plan(rules), NOVEMBER, NOVEMBER.end + timedelta(days=3))
    tracker.add_all(events)
    assert tracker.resolve() == {
        ("o-1", "resolution"): Treatment.COUNTED,
        ("q-2", "qualification"): Treatment.COUNTED,
        ("o-2", "resolution"): Treatment.SUPERSEDED,
        ("o-3", "resolution"): Treatment.AWAITING_VERIFICATION,
        ("h-4", "handoff"): Treatment.COUNTED,
        ("o-5", "resolution"): Treatment.REJECTED,
        ("h-6", "handoff"): Treatment.COUNTED,
        ("o-6", "resolution"): Treatment.AWAITING_VERIFICATION,
    }
