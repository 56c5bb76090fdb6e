"""Transaction-scoped locks on names, so writers of the same outcome keys take turns.

PostgreSQL: advisory transaction locks, taken in one sorted order (no deadlocks between
two writers), released at commit. SQLite: writes are already serialised (every transaction
begins IMMEDIATE, see `metering.platform.db.engine`), so there is nothing to take.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlmodel import Session

from metering.platform.db.bulk import array_text, driver_rows


def lock_id(*parts: str) -> int:
    """A stable signed 64-bit number for a name made of `parts`."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_names(session: Session, names: Iterable[tuple[str, ...]]) -> None:
    """Hold an exclusive lock on each name until the transaction ends."""
    lock_groups(session, names, ())


def lock_groups(
    session: Session, groups: Iterable[tuple[str, ...]], members: Iterable[tuple[str, ...]]
) -> None:
    """Lock whole groups, or single members of a group, until the transaction ends.

    A member name is its group's name plus one more part. Locking a member takes its
    group's lock shared, so writers of different members run side by side while a writer
    of the whole group excludes them all. Group locks come first, then member locks, each
    set in sorted order: one global order, so two writers never deadlock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    exclusive = {lock_id(*group) for group in set(groups)}
    distinct = set(members)
    member_ids = {lock_id(*member) for member in distinct}
    shared = {lock_id(*group) for group in {member[:-1] for member in distinct}} - exclusive
    modes = sorted([(i, False) for i in exclusive] + [(i, True) for i in shared])
    # Run by psycopg itself: every ingested batch takes these, and a SQLAlchemy statement
    # costs more to build and read than the locks cost the server.
    if modes:
        driver_rows(
            session,
            "SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k) "
            "ELSE pg_advisory_xact_lock(k) END "
            "FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS BOOLEAN[])) AS t(k, s)",
            array_text(i for i, _ in modes),
            array_text(s for _, s in modes),
        )
    if member_ids:
        driver_rows(
            session,
            "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(%s AS BIGINT[])) AS t(k)",
            array_text(sorted(member_ids)),
        )
