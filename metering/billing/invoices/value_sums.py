"""Per-event charges added up in the database, for live figures of a few customers.

A percentage charge prices each event's value (clamped per event) and adds the amounts up
unrounded; the line is rounded once (`pricing_rules.charges.percentage`). Its line therefore
needs only three sums per period: the events, their values and their per-event amounts
(`PerEventSums`), which one aggregate computes instead of reading every value into Python
(the portal's overview read ten thousand values and priced each twice). The sums are exact:
PostgreSQL computes the per-event amount in NUMERIC, whose products and sums are exact
(the rate is passed as the exact fraction `rate / 100`); SQLite keeps values as REAL, so its
aggregate converts each value as the stream does and calls the charge's own `event_amount`.

A batch close still streams the values (`metering.billing.invoices.values.ValueStream`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.usage import OUTCOMES, exact_sum, raw_value, scope
from metering.ledger import states
from metering.platform.db.types import exact_decimal
from pricing_rules.charges import PerEventSums
from pricing_rules.charges.percentage import HUNDRED, PercentageCharge
from pricing_rules.rules import RuleFile

ZERO = Decimal(0)


def _exact(value: Decimal) -> sa.ColumnElement[Any]:
    return sa.literal(value, sa.Numeric())


def _postgres_amount(charge: PercentageCharge, value: sa.ColumnElement[Any]) -> Any:
    """`PercentageCharge.event_amount` in NUMERIC."""
    amount: Any = sa.func.greatest(value, 0) * _exact(charge.rate / HUNDRED)
    if charge.per_event_min is not None:
        amount = sa.func.greatest(amount, _exact(charge.per_event_min))
    if charge.per_event_max is not None:
        amount = sa.func.least(amount, _exact(charge.per_event_max))
    if charge.per_event_fee is not None:
        amount = amount + _exact(charge.per_event_fee)
    return amount


def _sqlite_aggregate(charge: PercentageCharge) -> type:
    class _EventAmounts:
        def __init__(self) -> None:
            self.total = ZERO

        def step(self, value: Any) -> None:
            self.total += charge.event_amount(exact_decimal(value))

        def finalize(self) -> str:
            return str(self.total)

    return _EventAmounts


def amount_sum(
    session: Session, charge: PercentageCharge, index: int, value: sa.ColumnElement[Any]
) -> sa.FunctionElement[Any]:
    """The exact sum of `charge`'s per-event amounts over the values `value` (read it with
    `raw_value`: PostgreSQL gives a Decimal, SQLite its text)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.sum(_postgres_amount(charge, value))
    name = f"event_amounts_{index}"
    driver = session.connection().connection.driver_connection
    driver.create_aggregate(name, 1, _sqlite_aggregate(charge))  # type: ignore[union-attr]
    function: sa.FunctionElement[Any] = getattr(sa.func, name)(value)
    return function


def per_event_charges(rules: RuleFile) -> list[tuple[int, PercentageCharge]]:
    """The charges (with their index) that price each event's value."""
    found = []
    for index, charge in enumerate(rules.charges):
        if charge.valued_outcome is None:
            continue
        if not isinstance(charge, PercentageCharge):
            raise TypeError(f"no database sum for per-event {charge.model} charges")
        found.append((index, charge))
    return found


Sums = dict[int, PerEventSums]
"""Charge index -> its figures."""


class ValueSums:
    """The per-event charges' figures of a few customers as of each of several instants, from
    one aggregate by customer and outcome over the rows still counting at the earliest
    instant, each instant's sums filtered by `BILLABLE` as of it (as `measure_tallies_at`)."""

    def __init__(
        self,
        session: Session,
        rules: RuleFile,
        customer_ids: Collection[str],
        period_start: datetime,
        instants: Sequence[datetime],
    ) -> None:
        charges = per_event_charges(rules)
        self._instants = list(instants)
        self._outcomes = list(dict.fromkeys(c.priced_outcome or "" for _, c in charges))
        self._sums: dict[tuple[str, str], list[Sums]] = {}
        if not charges or not customer_ids:
            return
        t = OUTCOMES.c
        billable = [states.BILLABLE.sql(t, as_of) for as_of in instants]
        columns: list[sa.ColumnElement[Any]] = [t.customer_id, t.outcome]
        for clause in billable:
            columns += [
                sa.func.count().filter(clause),
                raw_value(exact_sum(session, t.value).filter(clause)),
                *(raw_value(amount_sum(session, c, i, t.value).filter(clause)) for i, c in charges),
            ]
        statement = (
            sa.select(*columns)
            .where(
                *scope(customer_ids, period_start, min(instants)),
                sa.or_(*billable),
                t.outcome.in_(self._outcomes),
            )
            .group_by(t.customer_id, t.outcome)
        )
        width = 2 + len(charges)
        for row in session.execute(statement).all():
            customer_id, outcome = row[0], row[1]
            self._sums[(customer_id, outcome)] = [
                _sums_of(outcome, charges, row[2 + n * width : 2 + (n + 1) * width])
                for n in range(len(instants))
            ]

    def at(self, as_of: datetime) -> SumsAt:
        """The sums as of one of the instants, as `measured_usage` reads them."""
        return SumsAt(self, self._instants.index(as_of))

    @property
    def outcomes(self) -> list[str]:
        return self._outcomes

    def sums_at(self, customer_id: str, outcome: str, n: int) -> Sums:
        found = self._sums.get((customer_id, outcome))
        return found[n] if found is not None else {}


def _sums_of(
    outcome: str, charges: Iterable[tuple[int, PercentageCharge]], row: Sequence[Any]
) -> Sums:
    events, value, *amounts = row
    total = ZERO if value is None else exact_decimal(value)
    return {
        index: PerEventSums(events, total, ZERO if amount is None else exact_decimal(amount))
        for (index, charge), amount in zip(charges, amounts, strict=True)
        if charge.priced_outcome == outcome
    }


class SumsAt:
    """`ValueSums` as of one of its instants."""

    def __init__(self, held: ValueSums, n: int) -> None:
        self._held = held
        self._n = n

    @property
    def outcomes(self) -> list[str]:
        return self._held.outcomes

    def sums(self, customer_id: str, outcome: str) -> Sums:
        return self._held.sums_at(customer_id, outcome, self._n)

    def values(self, customer_id: str, outcome: str) -> Any:
        def refused() -> Iterable[Decimal]:
            raise LookupError(f"{outcome}: its values are added up, not held")

        return refused
