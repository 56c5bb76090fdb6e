"""Reading a query's rows beside the current transaction, on the same snapshot (PostgreSQL).

A close runs its aggregate and then reads the per-event values of percentage charges: two
scans of the period's rows that would take turns on one connection (0.3 s each for a
million events). The values query runs instead on a second connection that imports the
close's snapshot (`pg_export_snapshot`), taken right before the aggregate, so the database
works on both at once. It sees what was committed then, not the close's own writes (the
close writes nothing to the rows it reads). Rows come through a small queue, a chunk at a
time, so memory stays bounded. (Two statements of a READ COMMITTED transaction never share
a snapshot anyway; a change committed between them marks the period stale, and the next
close corrects it.) `Beside` does the same for one small result (the portal's overview).
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

CHUNK_ROWS = 10_000
_SNAPSHOT = re.compile(r"[0-9A-F-]+")
_END = object()


def _snapshot(session: Session) -> tuple[Engine, str]:
    """The engine of `session` and the id of its transaction's snapshot, exported."""
    snapshot = session.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
    if not _SNAPSHOT.fullmatch(snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    return engine, snapshot


@contextmanager
def _on_snapshot(engine: Engine, snapshot: str) -> Iterator[Connection]:
    """A connection whose transaction reads from `snapshot`."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        yield connection


class Beside:
    """The rows of one small query, read on another connection from the snapshot of
    `session` while the caller goes on with its own queries (PostgreSQL; elsewhere the query
    runs when its rows are asked for). The portal's overview counts its outcomes per day
    this way while it rates the period: two scans of the period's rows at once."""

    def __init__(self, session: Session, statement: sa.Executable) -> None:
        self._rows: Sequence[Any] | None = None
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        if session.get_bind().dialect.name != "postgresql":
            self._session: Session | None = session
            self._statement = statement
            return
        self._session = None
        engine, snapshot = _snapshot(session)
        self._thread = threading.Thread(
            target=self._run, args=(engine, snapshot, statement), daemon=True
        )
        self._thread.start()

    def _run(self, engine: Engine, snapshot: str, statement: sa.Executable) -> None:
        try:
            with _on_snapshot(engine, snapshot) as connection:
                self._rows = connection.execute(statement).all()
                connection.rollback()
        except Exception as error:  # handed to the reading thread, which raises it
            self._error = error

    def rows(self) -> Sequence[Any]:
        if self._session is not None:
            return self._session.execute(self._statement).all()
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._rows is not None
        return self._rows


class Prefetch:
    """The rows of `sql` read on another connection, from the snapshot of `session`."""

    def __init__(
        self, session: Session, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> None:
        engine, snapshot = _snapshot(session)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(engine, snapshot, sql, params), daemon=True
        )
        self._thread.start()

    def _run(
        self, engine: Engine, snapshot: str, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> None:
        try:
            with _on_snapshot(engine, snapshot) as connection:
                connection.exec_driver_sql("SELECT set_config('work_mem', '64MB', true)")
                driver = connection.connection.driver_connection
                cursor = driver.cursor(name="prefetch")  # type: ignore[union-attr]
                try:
                    cursor.execute(sql, params)
                    while chunk := cursor.fetchmany(CHUNK_ROWS):
                        if not self._put(chunk):
                            return
                finally:
                    cursor.close()
                    connection.rollback()
            self._put(_END)
        except Exception as error:  # handed to the reading thread, which raises it
            self._put(error)

    def _put(self, item: object) -> bool:
        """Queue `item` unless the reader has stopped; False when it has."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def chunks(self) -> Iterator[Sequence[Sequence[Any]]]:
        """The rows, a chunk at a time, as the other connection reads them."""
        try:
            while (item := self._queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (also when the rows were not all read) and free the connection."""
        self._stop.set()
        self._thread.join()
