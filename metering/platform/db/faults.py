"""Database faults a client can retry: a lost connection, a database that does not answer.

`transient(exc)` says whether an error is one of them: the connection was lost (PostgreSQL
terminated it, the server restarted, the network dropped), none could be made, the server
refuses new work for now (shutting down, out of connections), two transactions collided
(deadlock, serialization), or SQLite stayed locked past its busy timeout. A request that
meets one is answered 503 with `Retry-After` (`problem_handlers`), never 500; ingestion
first retries once itself (`retried_once`), which is safe because events are idempotent
by id. Anything else (a bug, a constraint) stays an error of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

logger = logging.getLogger(__name__)
T = TypeVar("T")

# SQLSTATE classes and codes (PostgreSQL, appendix A) that say "try again later".
_TRANSIENT_CLASSES = ("08", "53", "57P")  # connection exception, resources, operator action
_TRANSIENT_CODES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# sqlite3 result codes: BUSY and LOCKED (still locked after the busy timeout), CANTOPEN
# (the file cannot be opened now), IOERR (the disk failed the read or write).
_SQLITE_TRANSIENT = frozenset({5, 6, 10, 14})


def _sqlstate(error: BaseException | None) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def transient(exc: BaseException) -> bool:
    """Whether `exc` is a database fault that retrying later may clear: an error of
    SQLAlchemy, or of the driver itself (bulk loads use psycopg's COPY directly)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        original: BaseException | None = exc.orig
    elif type(exc).__module__.startswith(("psycopg", "sqlite3")):
        original = exc
    else:
        return False
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _SQLITE_TRANSIENT  # extended codes keep the primary in the low byte
    state = _sqlstate(original)
    if state is None:
        # psycopg gives no SQLSTATE when no connection could be made at all.
        return type(original).__name__ == "OperationalError"
    return state in _TRANSIENT_CODES or state.startswith(_TRANSIENT_CLASSES)


def retried_once(session: Session, work: Callable[[], T], *, commit: bool = True) -> T:
    """`work()` (and commit); after a transient fault, once more on a fresh connection.

    Only for work that may safely run twice (a commit whose answer was lost may have been
    applied): reads, and ingestion, since an event id is stored once. A second fault
    propagates.
    """
    try:
        result = work()
        if commit:
            session.commit()
        return result
    except Exception as exc:
        if not transient(exc):
            raise
        logger.warning(
            "database fault, retrying once on a fresh connection: %s",
            exc.orig if isinstance(exc, DBAPIError) else exc,
        )
        session.invalidate()  # the connection is dropped, never rolled back through
    result = work()
    if commit:
        session.commit()
    return result
