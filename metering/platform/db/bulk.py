"""Bulk inserts: one statement per batch on both databases.

On PostgreSQL the rows travel as one array per column and are expanded by `unnest`, so a
batch of 500 events is a single statement with a dozen parameters: far cheaper to send
and to plan than 500 VALUES tuples. SQLite takes the plain multi-row INSERT.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlmodel import Session

from metering.platform.db import jsontext

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
# From this many rows on, PostgreSQL gets them through COPY (the fastest way in).
COPY_THRESHOLD = 50


def _array_cast(column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.JSON):
        return f"CAST(CAST(:{column.name} AS TEXT[]) AS JSON[])"
    type_text = column.type.compile(dialect=_PG)
    return f"CAST(:{column.name} AS {type_text}[])"


def _column_values(column: sa.Column[Any], rows: Sequence[dict[str, Any]]) -> str | list[Any]:
    """One column's values as the array parameter `_array_cast` reads."""
    values = [row[column.name] for row in rows]
    if isinstance(column.type, sa.JSON):
        values = [jsontext.column_text(value) for value in values]
    return _array_text(values)


# How an element of each type is written in an array's text (quoted, then escaped).
_ELEMENT_TEXT: dict[type, Any] = {
    str: str.__str__,
    datetime: datetime.isoformat,
    Decimal: str,
    int: str,
    bool: lambda value: "t" if value else "f",
}


def _array_text(values: list[Any]) -> str | list[Any]:
    """The text of a one-dimensional array of `values` (`{"a","b",NULL}`), which the
    statement casts to the column's array type: a few hundred elements are one pass here,
    where psycopg dumps a list parameter element by element (about twice the time). A value
    of another type leaves the list as it is, for psycopg to dump."""
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
            continue
        kind = type(value)
        write = _ELEMENT_TEXT.get(kind) or (str.__str__ if isinstance(value, str) else None)
        if write is None:
            return values
        text = write(value)
        if "\\" in text or '"' in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'"{text}"')
    return "{" + ",".join(parts) + "}"


def insert_rows(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts_on: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert `rows` (dicts with the same keys); rows conflicting on `skip_conflicts_on`
    are skipped. Returns the `returning` columns of the inserted rows."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        if len(rows) >= COPY_THRESHOLD:
            return _insert_copy(session, table, rows, skip_conflicts_on, returning)
        return _insert_unnest(session, table, rows, skip_conflicts_on, returning)
    statement: Any = sqlite.insert(table)
    if skip_conflicts_on:
        statement = statement.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        return [tuple(row) for row in session.execute(statement, list(rows)).all()]
    session.execute(statement, list(rows))
    return []


def _insert_suffix(skip_conflicts_on: Sequence[str], returning: Sequence[str]) -> str:
    """The ON CONFLICT and RETURNING clauses of a PostgreSQL INSERT ... SELECT."""
    suffix = ""
    if skip_conflicts_on:
        suffix += f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING"
    if returning:
        suffix += f" RETURNING {', '.join(returning)}"
    return suffix


def _insert_unnest(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    skip_conflicts_on: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    columns = [table.c[name] for name in rows[0]]
    names = ", ".join(column.name for column in columns)
    arrays = ", ".join(_array_cast(column) for column in columns)
    sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"
    sql += _insert_suffix(skip_conflicts_on, returning)
    parameters = {column.name: _column_values(column, rows) for column in columns}
    result: CursorResult[Any] = session.execute(sa.text(sql), parameters)  # type: ignore[assignment]
    return [tuple(row) for row in result.all()] if returning else []


# The binary COPY type of each column type that travels in binary (JSON text goes as
# `text`: a `json` field in binary is its text). Others, such as INTEGER, whose binary
# dumper would wrap a larger int without a word, make the statement go as text.
_BINARY_TYPES = {
    "VARCHAR": "varchar",
    "TEXT": "text",
    "JSON": "text",
    "BIGINT": "int8",
    "NUMERIC": "numeric",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


@functools.cache
def _binary_types(table: sa.Table, names: tuple[str, ...]) -> list[str] | None:
    """The binary COPY types of these columns of `table`, or None if one has none."""
    found = [
        _BINARY_TYPES.get(table.c[name].type.compile(dialect=_PG).split("(")[0]) for name in names
    ]
    return None if None in found else found  # type: ignore[return-value]


def _insert_copy(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    skip_conflicts_on: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """COPY the rows in: straight into `table`, or through a temporary table when
    conflicts must be skipped or values returned (COPY itself can do neither).

    In binary when every column has a binary type (`_BINARY_TYPES`): a timestamp or a
    number costs both sides far less than its text (about a tenth of the client's time
    per outcome row)."""
    columns = [table.c[name] for name in rows[0]]
    names = ", ".join(column.name for column in columns)
    types = _binary_types(table, tuple(rows[0]))
    json_at = [n for n, column in enumerate(columns) if isinstance(column.type, sa.JSON)]
    # One C call per row picks its values in column order (a tuple, even of one column).
    pick = itemgetter(*rows[0]) if len(columns) > 1 else lambda row: (row[columns[0].name],)
    direct = not skip_conflicts_on and not returning
    target = table.name if direct else f"incoming_{table.name}"
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if not direct:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS "
                f"SELECT {names} FROM {table.name} WITH NO DATA"
            )
        binary = " (FORMAT BINARY)" if types is not None else ""
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN{binary}") as copy:
            if types is not None:
                copy.set_types(types)
            for row in rows:
                values = pick(row)
                if json_at:
                    values = list(values)
                    for n in json_at:
                        values[n] = jsontext.column_text(values[n])
                copy.write_row(values)
        if direct:
            return []
        sql = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target}"
        sql += _insert_suffix(skip_conflicts_on, returning)
        cursor.execute(sql)
        inserted = [tuple(row) for row in cursor.fetchall()] if returning else []
        cursor.execute(f"DELETE FROM {target}")
        return inserted
    finally:
        cursor.close()


def copy_fresh(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], key: str
) -> list[int] | None:
    """COPY `rows` straight into `table` (PostgreSQL) when none of them conflicts with a
    stored row, their `key` values (the primary key) drawn from its sequence first; None,
    with nothing written, when one does (the caller then skips the conflicts another way).

    The usual batch is all new: a plain COPY costs the server far less than staging the
    rows and inserting them with ON CONFLICT (a speculative insertion per row). A
    savepoint makes a conflict cost the rows COPY wrote, never the transaction. A
    concurrent writer of the same unique values makes COPY wait for its end, as ON
    CONFLICT would, then conflict or go on."""
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # The sequence is looked up once, not per row (nine times cheaper for 500 keys).
        cursor.execute(
            "WITH s AS MATERIALIZED (SELECT CAST(pg_get_serial_sequence("
            f"'{table.name}', '{key}') AS regclass) AS seq) "
            "SELECT nextval(s.seq) FROM s, generate_series(1, %s)",
            (len(rows),),
        )
        keys = [value for (value,) in cursor.fetchall()]
        cursor.execute("SAVEPOINT copy_fresh")
        try:
            _insert_copy(
                session, table, [{key: k, **row} for k, row in zip(keys, rows, strict=True)], (), ()
            )
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT copy_fresh")
            return None
        cursor.execute("RELEASE SAVEPOINT copy_fresh")
        return keys
    finally:
        cursor.close()


def add_rows(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    added: Sequence[str],
) -> None:
    """Insert `rows`, or add their `added` columns onto the stored row with the same `key`
    (a unique constraint), row by row in the order given (the order locks are taken in).

    PostgreSQL gets one `INSERT ... SELECT FROM unnest ... ON CONFLICT DO UPDATE`, however many
    rows (an executemany would run a statement per row); SQLite the dialect's upsert. Two
    rows with the same key in one call are refused by PostgreSQL: the caller merges them.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        insert = sqlite.insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=list(key),
            set_={name: table.c[name] + insert.excluded[name] for name in added},
        )
        session.execute(statement, list(rows))
        return
    columns = [table.c[name] for name in rows[0]]
    names = ", ".join(column.name for column in columns)
    arrays = ", ".join(_array_cast(column) for column in columns)
    sums = ", ".join(f"{name} = {table.name}.{name} + excluded.{name}" for name in added)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sums}"
    )
    session.execute(sa.text(sql), {column.name: _column_values(column, rows) for column in columns})


def update_rows(session: Session, entity: Any, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows of `entity` (a table model) by `key`, each dict naming its key and the
    columns to set (the same keys in every dict).

    PostgreSQL gets one `UPDATE ... FROM unnest(...)` per call, whatever the number of
    rows; SQLite the ORM's update by primary key. Rows are updated in no particular order
    within the statement: a caller whose rows must change in an order (a unique index that
    holds between them) makes one call per step.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(sa.update(entity), list(rows))
        return
    table: sa.Table = entity.__table__
    columns = [table.c[name] for name in rows[0]]
    names = ", ".join(column.name for column in columns)
    arrays = ", ".join(_array_cast(column) for column in columns)
    assignments = ", ".join(
        f"{column.name} = incoming.{column.name}" for column in columns if column.name != key
    )
    sql = (
        f"UPDATE {table.name} SET {assignments} FROM unnest({arrays}) AS incoming({names}) "
        f"WHERE {table.name}.{key} = incoming.{key}"
    )
    session.execute(sa.text(sql), {column.name: _column_values(column, rows) for column in columns})


def tuples_in(
    session: Session,
    columns: Sequence[Any],
    types: Sequence[sa.types.TypeEngine[Any]],
    values: Sequence[tuple[Any, ...]],
) -> sa.ColumnElement[bool]:
    """`(a, b, ...) IN values`; on PostgreSQL the values travel as one JSON array of rows
    (each an array), expanded by `jsonb_array_elements`: a 500-tuple IN list is planned
    badly and sent slowly, and one JSON text is cheaper to encode than an array parameter
    per column. As `jsonb` it is parsed once; `->>` on `json` parses the row again for
    every field it reads."""
    if session.get_bind().dialect.name != "postgresql":
        return sa.tuple_(*columns).in_(values)
    rows = sa.func.jsonb_array_elements(
        sa.cast(sa.bindparam(None, json_rows(values), type_=sa.Text), postgresql.JSONB)
    ).table_valued("value")
    picks = [
        sa.cast(rows.c.value.op("->>")(sa.literal_column(str(index))), type_)
        for index, type_ in enumerate(types)
    ]
    return sa.tuple_(*columns).in_(sa.select(*picks))


def json_rows(values: Sequence[tuple[Any, ...]]) -> str:
    """The JSON array of the rows (arrays) made by the C encoder alone: datetimes become
    their ISO text first, once per distinct time (the keys of a batch share a few periods)."""
    times: dict[datetime, str] = {}

    def plain(value: Any) -> Any:
        if type(value) is datetime:
            text = times.get(value)
            if text is None:
                text = times[value] = value.isoformat()
            return text
        return value

    rows = [list(map(plain, value)) for value in values]
    return json.dumps(rows, separators=(",", ":"), allow_nan=False, default=_key_text)


def array_text(values: Iterable[str | int | bool]) -> str:
    """The text of a PostgreSQL array of `values`, for a statement's `CAST(%s AS T[])`
    (psycopg would dump a list element by element)."""
    text = _array_text(list(values))
    if not isinstance(text, str):
        raise TypeError("array_text takes strings, integers and booleans")
    return text


def driver_rows(session: Session, sql: str, *parameters: Any) -> list[Any]:
    """The rows of `sql` (PostgreSQL, `%s` placeholders) run on the session's connection by
    psycopg itself, as named tuples: for the lookups every batch makes, where building,
    compiling and reading a SQLAlchemy statement cost more than the query. Pending ORM
    changes are flushed first, as a query of the session would (autoflush)."""
    if session.autoflush:
        session.flush()
    connection = session.connection().connection.driver_connection
    cursor = connection.cursor(row_factory=namedtuple_row)  # type: ignore[union-attr]
    try:
        cursor.execute(sql, parameters)
        rows: list[Any] = cursor.fetchall()
        return rows
    finally:
        cursor.close()


def _key_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a key value")


def text_in(session: Session, column: Any, values: Sequence[str]) -> sa.ColumnElement[bool]:
    """`column IN values` for a text column; on PostgreSQL `column = ANY(array)`: one
    parameter however many values, so the statement is compiled once and sent as it is (an
    IN list renders, and the driver re-parses, a placeholder per value on every call)."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)  # type: ignore[no-any-return]
    array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.Text()))
    return column == sa.any_(array)  # type: ignore[no-any-return]


def prefer_index_lookups(session: Session) -> None:
    """Plan this transaction's key lookups as index probes, whatever the statistics say.

    Ingestion looks up a few hundred keys in tables that grow by as much per second; with
    statistics from when a table was small, PostgreSQL would hash-join the keys against a
    full scan of it, so each batch would get slower as the table grew. A nested loop of
    index probes costs the same at any table size.
    """
    if session.get_bind().dialect.name == "postgresql":
        driver_rows(
            session,
            "SELECT set_config('enable_seqscan', 'off', true) AS seqscan, "
            "set_config('enable_hashjoin', 'off', true) AS hashjoin, "
            "set_config('enable_mergejoin', 'off', true) AS mergejoin",
        )
