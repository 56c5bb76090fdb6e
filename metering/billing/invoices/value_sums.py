"""Per-event charges added up in the database, for live figures (`measure_tallies_at`'s
`summed`).

A percentage charge prices each event's value (clamped per event) and adds the amounts up
unrounded; the line is rounded once (`pricing_rules.charges.percentage`). Its line therefore
needs only three sums per period: the events, their values and their per-event amounts
(`PerEventSums`), which one aggregate computes instead of reading every value into Python
(the portal's overview read ten thousand values and priced each twice). The sums are exact:
PostgreSQL computes the per-event amount in NUMERIC, whose products and sums are exact
(the rate is passed as the exact fraction `rate / 100`); SQLite keeps values as REAL, so its
aggregate converts each value as the stream does and calls the charge's own `event_amount`.

The sums are columns of the tally aggregate (`metering.billing.invoices.usage`), so a live
rating scans the period's rows once. A batch close still streams the values
(`metering.billing.invoices.values.ValueStream`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.platform.db.types import exact_decimal
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


PerEventCharges = list[tuple[int, PercentageCharge]]


def per_event_charges(rules: RuleFile) -> PerEventCharges:
    """The charges (with their index) that price each event's value."""
    found = []
    for index, charge in enumerate(rules.charges):
        if charge.valued_outcome is None:
            continue
        if not isinstance(charge, PercentageCharge):
            raise TypeError(f"no database sum for per-event {charge.model} charges")
        found.append((index, charge))
    return found
