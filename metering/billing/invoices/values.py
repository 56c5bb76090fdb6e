"""Per-event values of a whole batch in one ordered pass, for percentage charges.

A percentage charge prices each event's value (clamped per event), so it needs the values
themselves, not an aggregate: those of the billable rows (`metering.ledger.states.BILLABLE`).
Reading them customer by customer would be one query per customer (2 s for 1,000); instead
one server-side cursor reads the batch's values ordered by customer and by the charges'
order of outcomes, and each customer's charges take their run of rows as the stream passes.
Customers must be priced in customer id order; a charge iterates its values as they stream,
so memory stays at one chunk of rows. An outcome priced by two percentage charges is the
exception: its values are kept for the second one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from metering.billing.invoices.prefetch import Prefetch
from metering.billing.invoices.usage import (
    OUTCOMES,
    OutcomeTally,
    billable_scope,
    quantity_of,
)
from metering.ledger import states
from metering.platform.db.types import exact_decimal
from pricing_rules.pricing import MeasuredUsage
from pricing_rules.rules import RuleFile

STREAM_ROWS = 10_000
_BILLABLE = states.BILLABLE.text("%(as_of)s")
Values = Callable[[], Iterable[Decimal]]


def valued_outcomes(rules: RuleFile) -> list[str]:
    """Outcomes priced per event, in the order their charges price them."""
    seen: dict[str, None] = {}
    for charge in rules.charges:
        if charge.valued_outcome is not None:
            seen.setdefault(charge.valued_outcome, None)
    return list(seen)


_Run = tuple[tuple[str, int], list[Decimal]]
"""(customer id, outcome rank) and consecutive values of it (a run may go on in the next)."""


class ValueStream:
    """The settled values of `outcomes` for `customer_ids`, read lazily in one query."""

    def __init__(
        self,
        session: Session,
        rules: RuleFile,
        customer_ids: Collection[str],
        period_start: datetime,
        as_of: datetime,
    ) -> None:
        self._session = session
        self._outcomes = valued_outcomes(rules)
        self._rank = {name: index for index, name in enumerate(self._outcomes)}
        priced = [c.valued_outcome for c in rules.charges]
        self._repeated = {name for name in self._outcomes if priced.count(name) > 1}
        self._customer_ids = sorted(customer_ids)
        self._period_start = period_start
        self._as_of = as_of
        self._runs: Iterator[_Run] | None = None
        self._head: _Run | None = None
        self._kept: dict[tuple[str, str], list[Decimal]] = {}
        self._prefetch: Prefetch | None = None

    @property
    def outcomes(self) -> list[str]:
        return self._outcomes

    def _chunks(self) -> Iterator[Sequence[Sequence[Any]]]:
        if self._session.get_bind().dialect.name == "postgresql":
            return self._postgres_chunks()
        return self._sqlite_chunks()

    def _sqlite_chunks(self) -> Iterator[Sequence[Sequence[Any]]]:
        t = OUTCOMES.c
        statement = (
            sa.select(t.customer_id, t.outcome, sa.type_coerce(t.value, sa.types.NullType()))
            .where(
                *billable_scope(self._customer_ids, self._period_start, self._as_of),
                t.outcome.in_(self._outcomes),
            )
            .order_by(t.customer_id, sa.case(self._rank, value=t.outcome))
        )
        result = self._session.execute(statement.execution_options(yield_per=STREAM_ROWS))
        for chunk in result.partitions():
            yield [(c, o, exact_decimal(v)) for c, o, v in chunk]

    def _postgres_query(self) -> tuple[str, dict[str, Any]]:
        """The query as the driver takes it (the stream and the prefetch read it raw)."""
        return (
            f"SELECT customer_id, outcome, value FROM outcomes WHERE {_BILLABLE} "
            "AND period_start = %(period_start)s AND customer_id = ANY(%(customers)s) "
            "AND outcome = ANY(%(outcomes)s) "
            'ORDER BY customer_id COLLATE "C", array_position(%(outcomes)s, outcome::text)',
            {
                "as_of": self._as_of,
                "period_start": self._period_start,
                "customers": self._customer_ids,
                "outcomes": self._outcomes,
            },
        )

    def prefetch(self) -> None:
        """Start reading the values now, beside this transaction (PostgreSQL; see
        `metering.billing.invoices.prefetch`), when there are any to read."""
        postgres = self._session.get_bind().dialect.name == "postgresql"
        if postgres and self._outcomes and self._customer_ids and self._prefetch is None:
            self._prefetch = Prefetch(self._session, *self._postgres_query())

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()

    def __enter__(self) -> ValueStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _postgres_chunks(self) -> Iterator[Sequence[Sequence[Any]]]:
        """Plain tuples a chunk at a time, from a psycopg server-side cursor (ORM rows cost
        twice the query for a hundred thousand values)."""
        if self._prefetch is not None:
            yield from self._prefetch.chunks()
            return
        driver = self._session.connection().connection.driver_connection
        cursor = driver.cursor(name=f"invoice_values_{id(self):x}")  # type: ignore[union-attr]
        try:
            cursor.execute(*self._postgres_query())
            while chunk := cursor.fetchmany(STREAM_ROWS):
                yield chunk
        finally:
            cursor.close()

    def _all_runs(self) -> Iterator[_Run]:
        rank = self._rank
        for chunk in self._chunks():
            for (customer_id, outcome), rows in groupby(chunk, key=itemgetter(0, 1)):
                yield (customer_id, rank[outcome]), [row[2] for row in rows]

    def _take(self, customer_id: str, outcome: str) -> Iterator[Decimal]:
        if self._runs is None:
            self._runs = self._all_runs()
            self._head = next(self._runs, None)
        wanted = (customer_id, self._rank[outcome])
        while self._head is not None and self._head[0] < wanted:
            self._head = next(self._runs, None)  # values a charge did not read to the end
        while self._head is not None and self._head[0] == wanted:
            yield from self._head[1]
            self._head = next(self._runs, None)

    def values(self, customer_id: str, outcome: str) -> Values:
        """The values of one customer's outcome, when its charge asks for them."""

        def read() -> Iterable[Decimal]:
            key = (customer_id, outcome)
            if key in self._kept:
                return self._kept[key]
            if outcome in self._repeated:
                self._kept[key] = list(self._take(customer_id, outcome))
                return self._kept[key]
            return self._take(customer_id, outcome)

        return read


def measured_usage(
    rules: RuleFile,
    customer_id: str,
    tallies: Mapping[str, OutcomeTally],
    stream: ValueStream | None,
) -> dict[str, MeasuredUsage]:
    """What `price_usage` takes, for one customer's tallies (values from `stream`; None when
    the tallies were measured `summed`: their per-event charges need no values)."""
    usage: dict[str, MeasuredUsage] = {}
    for outcome, tally in tallies.items():
        if outcome not in rules.outcomes:
            continue
        values: Values = tuple
        if stream is not None and outcome in stream.outcomes and tally.billable:
            values = stream.values(customer_id, outcome)
        usage[outcome] = MeasuredUsage(
            quantity=quantity_of(rules, outcome, tally),
            events=tally.billable,
            values=values,
            groups={
                value: MeasuredUsage(quantity_of(rules, outcome, group), group.billable)
                for value, group in tally.groups.items()
                if group.billable
            },
            sums=tally.sums,
        )
    return usage
