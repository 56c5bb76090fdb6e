"""`metering db ...`: the schema, made only by the Alembic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.engine import make_url
from sqlmodel import Session

from metering.platform.db import migrate
from metering.platform.db.engine import make_engine
from metering.platform.settings import get_settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def database_label(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def open_session() -> Iterator[Session]:
    """A session on the configured database for one CLI command (the caller commits)."""
    engine = make_engine(get_settings().database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration to the database (DATABASE_URL, SQLite by default)."""
    url = get_settings().database_url
    migrate.upgrade(url)
    typer.echo(f"{database_label(url)} is at revision {migrate.head_revision()}")
