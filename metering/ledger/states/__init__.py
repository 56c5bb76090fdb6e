"""Every outcome and event state, what each means, and the rules that read them.

This module is the one place these rules are written. Each rule is a predicate with two
faces that a test keeps in agreement on SQLite and PostgreSQL: `sql(t, ...)`, a clause over a
table's columns (`Outcome.__table__.c`, or any selectable's with the same names), and
`holds(row, ...)`, the same test on a row in memory; `text` writes a clause out as SQL for
the two places that need text (a partial index, a query sent to the driver as it is).
Queries, pages and jobs ask here instead of comparing states themselves.

**How a dedupe key resolves.** The candidates of one (customer, outcome, period, dedupe key)
are decided by the pure core's `pricing_rules.outcomes.resolve_key`, whatever the order they
arrived in: a candidate is reversed when a reversal with its match key happened at or after
it; the earliest live one wins; the other live ones are duplicates. `key_states` turns that
decision into the stored `OutcomeState` of every candidate:

- `counted`: the key's winner, the one row billed for its key (a partial unique index keeps
  one per key);
- `credited`: the winner of a key an accepted dispute covers: taken back, never counted again;
- `problem`: a winner that could not be deduplicated or measured (its key or value was
  missing or unusable): shown, never billed;
- `reversed`: a reversal with its match key happened at or after it;
- `duplicate`: a live candidate after the winner;
- `voided`: its event was voided; it takes part in no key;
- `rejected`: a rejection (`settle.rejected_by`, a low survey score) with its match key
  happened at or after it: never billed (credited by the next close if it was invoiced);
- `awaiting_verification`: a verified outcome (`settle.confirmed_by`) whose confirmation has
  not come, with `otherwise: drop`: it takes part in its key only once confirmed in its
  window (`verify_by`), and never if not (the portal then shows it `unverified`). With
  `otherwise: count` an unconfirmed candidate is `counted` with a span that starts at the
  end of its window;
- `over_limit`: its key's winner, but counting it would take the customer's spend or the
  outcome's units for the period past a `block` limit (`outcomes/limits.py`, run after the
  keys resolve): stored, never billed, counted again in timestamp order once a reversal,
  void or credit brings the period back under (its counted span is then the key's own);
- `superseded`: its key's billed winner, but its outcome is exclusive (`exclusive` in the
  plan) and a winner of an outcome earlier in `exclusive.order` is billed for the same
  subject (the same dedupe key): `group_states` resolves the keys of one subject together.

**Settling is a time, not a state.** A counted row settles at `settles_at` (when it occurred
plus the rule's `settle.after`). Nothing is rewritten when a row settles.

**Billing asks "as of an instant", and the state is "now".** `state` is what a row is given
everything stored. A close prices its period as of exactly its close instant, whenever it
runs, so what happened after that instant must not count yet: a reversal whose event is
timestamped later, an event voided later, a dispute accepted later (a void or an acceptance
happens when it is recorded; a reversal when its event says). Each row therefore also keeps
its **counted span** [`counted_from`, `counted_until`): the instants at which it is its key's
billed outcome (the winner, no problem, not credited), computed by `key_states` from every
candidate, reversal, void and credit of its key with their times, whatever order they were
stored in. `COUNTED_AT` is that test; `BILLABLE` is counted at `as_of` and settled by then,
`PENDING` counted and not settled: what a close bills, live figures and corrections count
(`SETTLED`: `settles_at <= as_of`). `STILL_COUNTING` are the rows a period's close reads,
and `CHANGES_AFTER` the ones whose billing changes after `as_of` (known now): their period
stays stale, so the next close corrects it. A counted row's span is open-ended; a credited
row's ends at the credit. A row that would count in two separate spans (a reversal whose
event is voided after it took effect; a superseded outcome that counted until a candidate of
higher precedence happened, then again once that one was reversed) keeps its latest one: an
earlier span ends before a later candidate of its period happened, and no close is as of such
an instant (a close's instant is after its period's end).

**Events.** A stored event's `EventStatus` is the best thing that became of its outcome rows
(`event_status`), else `reversal` or `unmatched`; `voided` once voided (`EVENT_VOIDED`).

**What the customer reads.** `DisplayStatus` is the portal's status of a row, decided by
`display_status` in memory and `display_clause` in SQL. It depends on what the ledger cannot
know (invoice lines and open disputes), which the caller passes as `Facts`.

A new outcome state is one entry in `OutcomeState`, its `InState` predicate, and its place in
`event_status` and in the display rules.
"""

from __future__ import annotations

from metering.ledger.states.columns import (
    HasState,
    HasStatus,
    Instant,
    OutcomeColumns,
    OutcomeRow,
    SettleColumns,
    SpanColumns,
    SpanRow,
    StateColumns,
    StatusColumns,
)
from metering.ledger.states.display import Facts, display_clause, display_status
from metering.ledger.states.event_status import EVENT_VOIDED, EventIs, event_status
from metering.ledger.states.key_states import (
    KeyFacts,
    KeyState,
    Reversal,
    group_states,
    key_states,
    lone_state,
    winner_state,
)
from metering.ledger.states.names import DisplayStatus, EventStatus, OutcomeState
from metering.ledger.states.predicates import (
    AWAITING_VERIFICATION,
    BILLABLE,
    CHANGES_AFTER,
    COUNTED,
    COUNTED_AT,
    CREDITED,
    DUPLICATE,
    OVER_LIMIT,
    PENDING,
    PROBLEM,
    REJECTED,
    REVERSED,
    SETTLED,
    STILL_COUNTING,
    SUPERSEDED,
    TALLIED,
    VOIDED,
    Billable,
    ChangesAfter,
    CountedAt,
    InState,
    Pending,
    Settled,
    StillCounting,
)

__all__ = [
    "AWAITING_VERIFICATION",
    "BILLABLE",
    "CHANGES_AFTER",
    "COUNTED",
    "COUNTED_AT",
    "CREDITED",
    "DUPLICATE",
    "EVENT_VOIDED",
    "OVER_LIMIT",
    "PENDING",
    "PROBLEM",
    "REJECTED",
    "REVERSED",
    "SETTLED",
    "STILL_COUNTING",
    "SUPERSEDED",
    "TALLIED",
    "VOIDED",
    "Billable",
    "ChangesAfter",
    "CountedAt",
    "DisplayStatus",
    "EventIs",
    "EventStatus",
    "Facts",
    "HasState",
    "HasStatus",
    "InState",
    "Instant",
    "KeyFacts",
    "KeyState",
    "OutcomeColumns",
    "OutcomeRow",
    "OutcomeState",
    "Pending",
    "Reversal",
    "SettleColumns",
    "Settled",
    "SpanColumns",
    "SpanRow",
    "StateColumns",
    "StatusColumns",
    "StillCounting",
    "display_clause",
    "display_status",
    "event_status",
    "group_states",
    "key_states",
    "lone_state",
    "winner_state",
]
