"""A session that cannot write: what a simulation reads through.

The database refuses writes itself, so no code path (an autoflush, a cache warm-up) can
change it: SQLite is opened with `mode=ro` and `query_only` (a read-only connection also
never checkpoints the WAL into the main file, which stays byte for byte the same);
PostgreSQL transactions are `READ ONLY`. Each side reads one snapshot (a deferred SQLite
transaction; REPEATABLE READ on PostgreSQL), so events arriving meanwhile never make a
simulation half old, half new. Unlike the service's engine, nothing takes SQLite's write
lock, so ingestion goes on while a long simulation runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from metering.platform.db import jsontext
from metering.platform.db.engine import normalise_url


def _sqlite_connector(database: str) -> Any:
    uri = f"file:{quote(str(Path(database).resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _begin_deferred)
        connection.execute("PRAGMA query_only=ON")
        return connection

    return connect


def _begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def read_only_engine(url: str) -> Engine:
    """An engine on the database at `url` through which nothing can be written."""
    url = normalise_url(url)
    parsed = make_url(url)
    options: dict[str, Any] = {
        "json_serializer": jsontext.dumps,
        "json_deserializer": jsontext.loads,
        "poolclass": sa.NullPool,
    }
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise ValueError(f"cannot open {url} read-only: give the SQLite file's path")
        engine = sa.create_engine("sqlite://", creator=_sqlite_connector(database), **options)
        event.listen(engine, "begin", _begin_deferred)
        return engine
    return sa.create_engine(
        url,
        isolation_level="REPEATABLE READ",
        connect_args={"options": "-c default_transaction_read_only=on"},
        **options,
    )


@contextmanager
def read_only_session(url: str) -> Iterator[Session]:
    """A session on `url` that never flushes and is rolled back, on a read-only connection."""
    engine = read_only_engine(url)
    try:
        with Session(engine, autoflush=False) as session:
            try:
                yield session
            finally:
                session.rollback()
    finally:
        engine.dispose()
