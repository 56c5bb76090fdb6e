"""The event log in ClickHouse: one `ReplacingMergeTree` keyed by (vendor, customer, event
id), partitioned by month, read with `FINAL` so a retried event counts once. Beside each
event the table holds its id row (customer '', see `id_row`), which ingestion looks ids up
by through the primary index.

The SQL is kept to what ClickHouse 18.16 (Debian's server) runs as well as current
releases (chdb): no DateTime64 (time is a DateTime plus epoch microseconds), no JSON type
(properties are text), Decimal(38, 18) for money summed as Decimal, tokens as UInt64.
The transport (in process or HTTP) only moves text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from metering.ledger.eventlog import tsv
from metering.ledger.eventlog.protocol import Cursor, Page
from metering.ledger.eventlog.record import (
    Attributed,
    AttributedSum,
    CostParts,
    CostSum,
    EventRecord,
    MonthTotals,
    digest,
    epoch_micros,
)
from metering.ledger.eventlog.transports import External

TABLE = "metering_events"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COLUMNS = (
    "vendor_id",
    "customer_id",
    "customer_external_id",
    "event_id",
    "type",
    "occurred_at",
    "occurred_micros",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_amount",
    "cost_currency",
    "properties",
    "cost",
    "digest",
    "received_micros",
    "status",
    "plan_version_id",
    "voided",
    "void_reason",
    "voided_micros",
    "version",
)
_READ = (
    "customer_id, customer_external_id, event_id, type, occurred_micros, properties, cost, "
    "received_micros, status, plan_version_id, voided, void_reason, voided_micros"
)
NOT_VOIDED = "voided = 0"
EVENT_ROWS = "customer_id != ''"
"""The rows of events (id rows have no customer)."""


SHARDING_KEY = "cityHash64(vendor_id, if(customer_id = '', customer_external_id, customer_id))"
"""A Distributed table's sharding key: by (vendor, customer), an id row by its event's
customer (`id_row`), so an event, its id row and their retries go to one shard together."""


def create_table_sql(table: str = TABLE, engine: str | None = None) -> str:
    """The table; `engine` replaces the default (e.g. a replicated engine on a cluster)."""
    engine = engine or "ReplacingMergeTree(version)"
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "vendor_id String, customer_id String, customer_external_id String, "
        "event_id String, type String, occurred_at DateTime('UTC'), occurred_micros Int64, "
        "model String, input_tokens UInt64, output_tokens UInt64, "
        "cost_amount Decimal(38, 18), cost_currency String, "
        "properties String, cost String, digest UInt64, "
        "received_micros Int64, status String, plan_version_id String, "
        "voided UInt8, void_reason String, voided_micros Int64, version UInt64"
        f") ENGINE = {engine} PARTITION BY toYYYYMM(occurred_at) "
        "ORDER BY (vendor_id, customer_id, event_id)"
    )


class Transport(Protocol):
    def execute(self, sql: str, data: str | None = None) -> str:
        """Run one statement (with TabSeparated `data` for an INSERT); TabSeparated out."""

    def execute_with(self, sql: str, tables: Sequence[External]) -> str:
        """Run a SELECT that reads `tables` (rows sent along with the query)."""

    def close(self) -> None: ...


def id_row(
    vendor_id: str,
    customer_id: str,
    event_id: str,
    occurred_micros: int,
    content_hash: str,
    status: str,
) -> str:
    """The id row of an event (TabSeparated): customer '' (so the id rows of a vendor sort
    by id, first in each part, and a lookup reads them through the primary index), the
    `digest` of the event's content hash, its status (log-only or not) and month; its
    event's customer in `customer_external_id`, which a Distributed table's sharding key
    reads so that an event and its id row go to one shard (and one part) together."""
    return (
        f"{tsv.field(vendor_id)}\t\t{tsv.field(customer_id)}\t{tsv.field(event_id)}\t\t"
        f"{occurred_micros // 1_000_000}\t{occurred_micros}\t\t0\t0\t0\t\t\t\t"
        f"{digest(content_hash)}\t0\t{tsv.field(status)}\t\t0\t\t0\t0\n"
    )


def micros_text(when: datetime | None) -> str:
    return "0" if when is None else str(epoch_micros(when))


_SUMS = (
    "model, cost_currency, count(), sum(input_tokens), sum(output_tokens), "
    "toString(sum(cost_amount))"
)
"""The last columns of a cost-summing query, read by `_summed`."""


def _summed(values: Sequence[str | None]) -> dict[str, Any]:
    """The `Summed` fields of a row's `_SUMS` columns (ClickHouse sums integers; the money
    comes as the text of its exact sum)."""
    model, currency, count, inp, out, amount = values
    return {
        "model": model or None,
        "currency": currency or None,
        "events": int(count or 0),
        "input_tokens": int(inp or 0),
        "output_tokens": int(out or 0),
        "amount": Decimal(amount or "0") if currency else None,
    }


def _row(record: EventRecord, version: int, parts: CostParts) -> list[str | None]:
    return [
        record.vendor_id,
        record.customer_id,
        record.customer_external_id,
        record.event_id,
        record.type,
        # The DateTime column reads a whole number as seconds since the epoch (18.16 and
        # current releases alike), and writing it costs a tenth of the date's text.
        str(record.occurred_micros // 1_000_000),
        str(record.occurred_micros),
        parts.model or "",
        str(parts.input_tokens),
        str(parts.output_tokens),
        "0" if parts.amount is None else format(parts.amount, "f"),
        parts.currency or "",
        record.properties,
        record.cost or "",
        "0",  # the digest is kept in the event's id row
        micros_text(record.received_at),
        record.status,
        record.plan_version_id or "",
        "0" if record.voided_at is None else "1",
        record.void_reason or "",
        micros_text(record.voided_at),
        str(version),
    ]


def _at(micros: str | None) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros or 0))


def _record(vendor_id: str, values: list[str | None]) -> EventRecord:
    customer_id, external, event_id, type_, micros, properties, cost = values[:7]
    received, status, plan_version_id, voided, reason, voided_micros = values[7:]
    return EventRecord(
        vendor_id=vendor_id,
        customer_id=customer_id or "",
        customer_external_id=external or "",
        event_id=event_id or "",
        type=type_ or "",
        occurred_at=EPOCH + timedelta(microseconds=int(micros or 0)),
        properties=properties or "{}",
        cost=cost or None,
        received_at=_at(received) if received and received != "0" else None,
        status=status or "",
        plan_version_id=plan_version_id or None,
        void_reason=reason if voided == "1" else None,
        voided_at=_at(voided_micros) if voided == "1" else None,
    )


def _in(values: Collection[str]) -> str:
    return "(" + ", ".join(tsv.literal(v) for v in sorted(values)) + ")"


class ClickHouseLog:
    """The event log over any transport (chdb in process, or a server over HTTP)."""

    def __init__(self, transport: Transport, table: str = TABLE, create: bool = True) -> None:
        self.transport = transport
        self.table = table
        if create:
            transport.execute(create_table_sql(table))

    def write(self, records: Sequence[EventRecord], version: int = 0) -> None:
        """Insert the records, with their id rows; a row with a higher `version` replaces
        one with the same key (a void of a log-only event: its id row stays as it is),
        equal versions are retries of one event."""
        if version:
            self.write_text("".join(self.line(r, version) for r in records))
        else:
            self.write_text("".join(self.rows(r) for r in records))

    @staticmethod
    def rows(record: EventRecord, parts: CostParts | None = None) -> str:
        """A new event's `line` and its `id_row`: what ingestion and backfill write."""
        return ClickHouseLog.line(record, parts=parts) + id_row(
            record.vendor_id,
            record.customer_id,
            record.event_id,
            record.occurred_micros,
            record.content_hash,
            record.status,
        )

    @staticmethod
    def line(record: EventRecord, version: int = 0, parts: CostParts | None = None) -> str:
        """The record as a TabSeparated row (`CostNotStorable` for a cost the table cannot
        hold exactly); `parts`: its cost's, when the caller has them (no JSON to decode)."""
        return tsv.row_text(_row(record, version, parts or record.cost_parts()))

    def write_text(self, rows: str) -> None:
        """Insert TabSeparated rows in one INSERT: one part, so each event and its id row
        are stored together or not at all (an id is never found without its event)."""
        if rows:
            self.transport.execute(
                f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) FORMAT TabSeparated", rows
            )

    def find(self, vendor_id: str, event_id: str) -> EventRecord | None:
        """The vendor's event with this id, deduplicated (a void replaces it)."""
        for record in self._select(vendor_id, f"event_id = {tsv.literal(event_id)}", "LIMIT 1"):
            return record
        return None

    def void(self, record: EventRecord, reason: str, voided_at: datetime) -> EventRecord:
        """Void a log-only event: the same row again, marked voided, with a higher version,
        so every `FINAL` read sees the void and cost sums leave the event out. Voiding a
        voided event again returns it as it is (the first reason and time stay)."""
        if record.voided_at is not None:
            return record
        voided = replace(record, void_reason=reason, voided_at=voided_at)
        self.write([voided], version=max(1, epoch_micros(voided_at)))
        return voided

    def listing(
        self,
        vendor_id: str,
        where: str,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[EventRecord]:
        """The vendor's events matching `where` (SQL on the table's columns) by (received
        time, event id), the SQL store's order, after the (received micros, event id) `after`."""
        if after is not None:
            where += (
                f" AND (received_micros > {int(after[0])} OR (received_micros = "
                f"{int(after[0])} AND event_id > {tsv.literal(after[1])}))"
            )
        tail = f"ORDER BY received_micros, event_id LIMIT {int(limit)}"
        return list(self._select(vendor_id, where, tail))

    def _cost_events(
        self, vendor_id: str, customer_ids: Collection[str] | str, start: datetime, end: datetime
    ) -> str:
        """The WHERE clause of the unvoided cost events of the customers (or of the
        customers of a table) in [start, end)."""
        lo, hi = epoch_micros(start), epoch_micros(end)
        customers = customer_ids if isinstance(customer_ids, str) else _in(customer_ids)
        return (
            f"vendor_id = {tsv.literal(vendor_id)} "
            f"AND customer_id IN {customers} AND cost != '' AND {NOT_VOIDED} "
            f"AND occurred_micros >= {lo} AND occurred_micros < {hi}"
        )

    def attributed_sums(
        self,
        vendor_id: str,
        customer_ids: Collection[str],
        start: datetime,
        end: datetime,
        key: str | None,
        owners: Iterable[tuple[str, str, str, str | None]],
    ) -> Attributed:
        """The log-only cost events whose top-level property `key` ClickHouse reads exactly
        (`flat_key_sql`), attributed and summed in one query: each event's (customer, key)
        joined to `owners` (customer, key, outcome, dimension: the outcome that key's costs
        land on), summed per customer, outcome (None: unbilled) and model (integer tokens)
        or currency (Decimal money). Without `key` (no attribution key: all of it is
        unbilled), every log-only cost event. The same scan says whether there are others:
        log-only ones read in Python (`cost_sums(..., key=key)`), and cost events the SQL
        store holds too (`stream(..., only_sql_stored=True)`)."""
        found = Attributed()
        if not customer_ids:
            return found
        rows = tsv.rows_text(
            (customer, "=" + value, outcome, "0" if dimension is None else "1", dimension or "")
            for customer, value, outcome, dimension in owners
        )
        columns = "attribution_key String, outcome String, grouped UInt8, dimension String"
        tables = [
            External(OWNERS, f"customer_id String, {columns}", rows),
            External(CUSTOMERS, "customer_id String", tsv.rows_text([c] for c in customer_ids)),
        ]
        if key is None:
            readable, read = "1", "''"
        else:
            present, value = _visit(key)
            readable, read = flat_key_sql(key), f"if({present}, concat('=', {value}), '')"
        sql = (
            f"SELECT in_sql, readable, customer_id, outcome, grouped, dimension, {_SUMS} FROM ("
            f"SELECT customer_id, status = '' AS in_sql, {readable} AS readable, "
            f"if(readable AND NOT in_sql, {read}, '') AS attribution_key, "
            "model, cost_currency, input_tokens, output_tokens, cost_amount "
            f"FROM {self.table} FINAL WHERE "
            f"{self._cost_events(vendor_id, CUSTOMERS, start, end)}) AS costs "
            f"ANY LEFT JOIN {OWNERS} USING (customer_id, attribution_key) GROUP BY in_sql, "
            "readable, customer_id, outcome, grouped, dimension, model, cost_currency "
            "FORMAT TabSeparated"
        )
        for row in tsv.parse(self.transport.execute_with(sql, tables)):
            in_sql, readable_row, customer, outcome, grouped, dimension = row[:6]
            if in_sql == "1":
                found.sql_held = True
            elif readable_row != "1":
                found.unread = True
            else:
                found.sums.append(
                    AttributedSum(
                        customer_id=customer or "",
                        outcome=outcome or None,
                        dimension=dimension if grouped == "1" else None,
                        **_summed(row[6:]),
                    )
                )
        return found

    def cost_sums(
        self,
        vendor_id: str,
        customer_ids: Collection[str],
        start: datetime,
        end: datetime,
        key: str | None = None,
    ) -> Iterator[CostSum]:
        """The log-only, unvoided cost events of the customers in [start, end), summed in
        ClickHouse per customer, properties (the attribution key is read from them), and
        model (integer tokens) or currency (Decimal money); with `key`, only those
        `attributed_sums` leaves out."""
        if not customer_ids:
            return
        where = self._cost_events(vendor_id, customer_ids, start, end) + " AND status != ''"
        if key is not None:
            where += f" AND NOT ({flat_key_sql(key)})"
        sql = (
            f"SELECT customer_id, properties, {_SUMS} FROM {self.table} FINAL WHERE {where} "
            "GROUP BY customer_id, properties, model, cost_currency FORMAT TabSeparated"
        )
        for row in tsv.parse(self.transport.execute(sql)):
            customer, properties = row[:2]
            yield CostSum(
                customer_id=customer or "", properties=properties or "{}", **_summed(row[2:])
            )

    def _select(self, vendor_id: str, where: str, tail: str = "") -> Iterator[EventRecord]:
        sql = (
            f"SELECT {_READ} FROM {self.table} FINAL WHERE vendor_id = {tsv.literal(vendor_id)} "
            f"AND {EVENT_ROWS} AND {where} {tail} FORMAT TabSeparated"
        )
        for values in tsv.parse(self.transport.execute(sql)):
            yield _record(vendor_id, values)

    def events(
        self, vendor_id: str, customer_id: str, after: Cursor | None = None, limit: int = 100
    ) -> Page:
        where = f"customer_id = {tsv.literal(customer_id)}"
        if after is not None:
            where += (
                f" AND (occurred_micros > {int(after.occurred_micros)} OR "
                f"(occurred_micros = {int(after.occurred_micros)} AND "
                f"event_id > {tsv.literal(after.event_id)}))"
            )
        tail = f"ORDER BY occurred_micros, event_id LIMIT {int(limit) + 1}"
        found = list(self._select(vendor_id, where, tail))
        more = len(found) > limit
        found = found[:limit]
        last = found[-1] if more else None
        return Page(found, None if last is None else Cursor(last.occurred_micros, last.event_id))

    def stream(
        self,
        vendor_id: str,
        customer_ids: Collection[str],
        start: datetime,
        end: datetime,
        only_sql_stored: bool = False,
    ) -> Iterator[EventRecord]:
        """Cost events in [start, end), voided log-only ones left out; `only_sql_stored`:
        only those the SQL store holds too (log-only ones are read summed, `cost_sums`)."""
        if not customer_ids:
            return iter(())
        lo, hi = epoch_micros(start), epoch_micros(end)
        where = (
            f"customer_id IN {_in(customer_ids)} AND cost != '' AND {NOT_VOIDED} "
            f"AND occurred_micros >= {lo} AND occurred_micros < {hi}"
        )
        if only_sql_stored:
            where += " AND status = ''"
        return self._select(vendor_id, where)

    def log_only(
        self, vendor_id: str, customer_id: str, since: datetime, until: datetime
    ) -> Iterator[EventRecord]:
        """A customer's events only the log holds (cost-only ones) in [since, until], voided
        ones too (with their void), by time then id: what a simulation adds to the SQL
        store's events."""
        where = (
            f"customer_id = {tsv.literal(customer_id)} AND status != '' "
            f"AND occurred_micros >= {epoch_micros(since)} "
            f"AND occurred_micros <= {epoch_micros(until)}"
        )
        return self._select(vendor_id, where, "ORDER BY occurred_micros, event_id")

    def digests(self, vendor_id: str, event_ids: Collection[str]) -> dict[str, int]:
        """The `digest` of the content hash of each of these ids the vendor's log holds
        (for checks and tests; ingestion asks `seen`)."""
        return {event_id: found for event_id, (found, _) in self.seen(vendor_id, event_ids).items()}

    def seen(self, vendor_id: str, event_ids: Collection[str]) -> dict[str, tuple[int, bool]]:
        """The (`digest` of the content hash, log-only) of each of these ids the vendor's
        log holds: read from the id rows through the primary index (vendor, '', event id),
        so the cost follows the ids asked, not the vendor's events (ingestion's lookup; no
        `FINAL`: every id row of an id has the same digest and status)."""
        if not event_ids:
            return {}
        # The ids travel as an external table: a server parses a literal list of a pass's
        # ids at about five times the CPU of the whole lookup from a table (18.16). Only
        # the ids are read of the granules the index leaves (PREWHERE), in the query's own
        # thread: half the server's CPU per lookup of the same query in parallel streams.
        sql = (
            f"SELECT event_id, digest, status != '' FROM {self.table} "
            f"PREWHERE event_id IN {ASKED} "
            f"WHERE vendor_id = {tsv.literal(vendor_id)} AND customer_id = '' "
            "SETTINGS max_threads = 1 FORMAT TabSeparated"
        )
        asked = External(ASKED, "event_id String", tsv.rows_text([e] for e in event_ids))
        found: dict[str, tuple[int, bool]] = {}
        for event_id, content, log_only in tsv.parse(self.transport.execute_with(sql, [asked])):
            key = str(event_id)
            earlier = found.get(key)  # an id row written twice, before their parts merged
            held_only = log_only == "1" or (earlier is not None and earlier[1])
            found[key] = (int(content or 0), held_only)
        return found

    def monthly(self, vendor_id: str, customer_id: str | None = None) -> list[MonthTotals]:
        where = f"vendor_id = {tsv.literal(vendor_id)} AND {EVENT_ROWS}"
        if customer_id is not None:
            where += f" AND customer_id = {tsv.literal(customer_id)}"
        month = "toYYYYMM(occurred_at)"
        totals_sql = (
            f"SELECT customer_id, {month} AS m, count(), countIf(cost != ''), "
            f"uniqExact(type) FROM {self.table} FINAL WHERE {where} "
            "GROUP BY customer_id, m FORMAT TabSeparated"
        )
        found: dict[tuple[str, str], MonthTotals] = {}
        for customer, m, count, costs, types in tsv.parse(self.transport.execute(totals_sql)):
            key = (str(customer), _month(m))
            found[key] = MonthTotals(key[0], key[1], int(count or 0), int(costs or 0))
            found[key].distinct_types = int(types or 0)
        tokens_sql = (
            f"SELECT customer_id, {month} AS m, model, sum(input_tokens), sum(output_tokens) "
            f"FROM {self.table} FINAL WHERE {where} AND model != '' "
            "GROUP BY customer_id, m, model FORMAT TabSeparated"
        )
        for customer, m, model, inp, out in tsv.parse(self.transport.execute(tokens_sql)):
            found[(str(customer), _month(m))].tokens[str(model)] = (int(inp or 0), int(out or 0))
        money_sql = (
            f"SELECT customer_id, {month} AS m, cost_currency, toString(sum(cost_amount)) "
            f"FROM {self.table} FINAL WHERE {where} AND cost_currency != '' "
            "GROUP BY customer_id, m, cost_currency FORMAT TabSeparated"
        )
        for customer, m, currency, amount in tsv.parse(self.transport.execute(money_sql)):
            found[(str(customer), _month(m))].money[str(currency)] = Decimal(amount or "0")
        return [found[key] for key in sorted(found)]

    def close(self) -> None:
        self.transport.close()


OWNERS = "metering_cost_owners"
"""The external table of a margin report's attribution keys and their outcomes."""
CUSTOMERS = "metering_cost_customers"
"""The external table of a margin report's customers (too many for the URL)."""
ASKED = "metering_asked_ids"
"""The external table of the ids an ingestion pass looks up."""
FLAT_KEY = re.compile(r"[A-Za-z0-9_$-]+")
"""Property names ClickHouse can look up as they are written in the JSON text."""


def _visit(key: str) -> tuple[str, str]:
    name = tsv.literal(key)
    return f"visitParamHas(properties, {name})", f"visitParamExtractString(properties, {name})"


def flat_key_sql(key: str) -> str:
    """The events whose attribution key ClickHouse's `visitParam` functions read exactly as
    the pure core does: properties of one flat object (no nested object or array, whose
    members could share the name; no escape, so no quote inside a string), the key absent
    or a string. The others (a number, null, text with escapes) are read in Python."""
    present, _ = _visit(key)
    raw = f"visitParamExtractRaw(properties, {tsv.literal(key)})"
    return (
        "position(properties, '\\\\') = 0 AND position(properties, '[') = 0 "
        "AND position(substring(properties, 2), '{') = 0 "
        f"AND ({present} = 0 OR substring({raw}, 1, 1) = '\"')"
    )


def _month(yyyymm: str | None) -> str:
    text = yyyymm or "000000"
    return f"{text[:4]}-{text[4:]}"
