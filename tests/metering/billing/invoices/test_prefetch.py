"""Reading rows on a second connection from the snapshot of the current one (PostgreSQL)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices.prefetch import CHUNK_ROWS, Beside, Prefetch

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def backend() -> str:
    return "postgresql"


def test_rows_come_from_the_snapshot_of_the_transaction(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE numbers (n INTEGER)"))
        connection.execute(sa.text("INSERT INTO numbers SELECT generate_series(1, 25000)"))
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO numbers VALUES (-1)"))  # uncommitted: not seen
        prefetch = Prefetch(session, "SELECT n FROM numbers ORDER BY n", ())
        with engine.begin() as other:  # committed after the snapshot: not seen
            other.execute(sa.text("INSERT INTO numbers VALUES (99999)"))
        chunks = list(prefetch.chunks())
        session.rollback()

    assert [len(chunk) for chunk in chunks] == [CHUNK_ROWS, CHUNK_ROWS, 5000]
    assert [row[0] for chunk in chunks for row in chunk] == list(range(1, 25001))


def test_an_error_reaches_the_reader_and_stopping_early_frees_the_connection(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        failing = Prefetch(session, "SELECT n FROM no_such_table", ())
        with pytest.raises(psycopg.errors.UndefinedTable, match="no_such_table"):
            list(failing.chunks())
        session.rollback()
        endless = Prefetch(session, "SELECT generate_series(1, 10000000)", ())
        first = next(endless.chunks())
        endless.close()
        session.rollback()

    assert len(first) == CHUNK_ROWS
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_query_beside_reads_the_snapshot_while_the_session_goes_on(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE letters (c TEXT)"))
        connection.execute(sa.text("INSERT INTO letters VALUES ('a'), ('b')"))
    with Session(engine) as session:
        session.execute(sa.text("SELECT 1"))
        beside = Beside(session, sa.text("SELECT c FROM letters ORDER BY c"))
        with engine.begin() as other:  # committed after the snapshot: not seen
            other.execute(sa.text("INSERT INTO letters VALUES ('c')"))
        assert session.execute(sa.text("SELECT count(*) FROM letters")).scalar_one() == 3
        assert [row[0] for row in beside.rows()] == ["a", "b"]
        failing = Beside(session, sa.text("SELECT c FROM no_such_table"))
        with pytest.raises(sa.exc.ProgrammingError, match="no_such_table"):
            failing.rows()
        session.rollback()

    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
