"""Which outcome a cost lands on.

A cost lands on an outcome through the rule file's `costs.attribute_to` key, read the same
way on cost events and on outcome events:

* an outcome event's own cost lands on the outcome it counts for;
* any other cost lands on the earliest counted outcome (settled or still pending) of the
  same customer and period whose event has the same key: exactly one outcome, even when
  several outcome types share the key;
* a cost with no key, or whose key names no counted outcome (it never became one, was
  reversed, was a duplicate of another period's outcome), is unbilled cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from metering.surfaces.reports.repository import CostEvent, CountedOutcome
from pricing_rules.events import Event
from pricing_rules.paths import MISSING, Getter, canonical_key, compile_getter
from pricing_rules.rules import RuleFile


def key_getter(rules: RuleFile) -> Getter | None:
    """The getter of the plan's `costs.attribute_to`, or None when it names no key."""
    if rules.costs is None or rules.costs.attribute_to is None:
        return None
    return compile_getter(rules.costs.attribute_to)


def attribution_key(getter: Getter | None, event: Event) -> str | None:
    """The event's key as text (as dedupe keys are compared), None when it has none."""
    if getter is None:
        return None
    value = getter(event)
    if value is MISSING or value is None:
        return None
    return canonical_key(value)


Owner = tuple[str, str | None]
"""An outcome type and the value of its `group_by` path (None when it has none)."""


class Attribution:
    """The outcome each key of a batch belongs to, built from its counted outcomes."""

    def __init__(self, getter: Getter | None, counted: Iterable[CountedOutcome]) -> None:
        self._getter = getter
        self._owners: dict[tuple[str, str], Owner] = {}
        if getter is None:
            return
        for row in counted:  # earliest first: the first outcome seen keeps the key
            key = attribution_key(getter, row.event)
            if key is not None:
                self._owners.setdefault((row.customer_id, key), (row.outcome, row.dimension))

    def owners(self) -> Iterator[tuple[str, str, str, str | None]]:
        """(customer, key, outcome, `group_by` value) of every key of the batch."""
        for (customer_id, key), (outcome, dimension) in self._owners.items():
            yield customer_id, key, outcome, dimension

    def owner_of(self, cost: CostEvent) -> Owner | None:
        """The outcome type (and its `group_by` value) `cost` is attributed to; None for
        unbilled cost."""
        if cost.own_outcome is not None:
            return (cost.own_outcome, cost.own_dimension)
        key = attribution_key(self._getter, cost.event)
        return None if key is None else self._owners.get((cost.customer_id, key))
