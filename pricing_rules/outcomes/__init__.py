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

from pricing_rules.outcomes.classification import (
    UNMATCHED,
    ClaimKind,
    Classification,
    OutcomeHit,
    ReversalHit,
)
from pricing_rules.outcomes.compiled_plan import CompiledPlan, compile_plan, dimension_reader
from pricing_rules.outcomes.key_resolution import (
    Candidate,
    KeyResolution,
    Verification,
    exclusive_winner,
    resolve_key,
)
from pricing_rules.outcomes.ledger import OutcomeLedger
from pricing_rules.outcomes.usage import CustomerUsage, OutcomeUsage, Problem

__all__ = [
    "UNMATCHED",
    "Candidate",
    "ClaimKind",
    "Classification",
    "CompiledPlan",
    "CustomerUsage",
    "KeyResolution",
    "OutcomeHit",
    "OutcomeLedger",
    "OutcomeUsage",
    "Problem",
    "ReversalHit",
    "Verification",
    "compile_plan",
    "dimension_reader",
    "exclusive_winner",
    "resolve_key",
]
