"""Run the Alembic migrations from code: the only way the schema is made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command
from metering.platform.db.engine import make_engine, normalise_url

# The scripts live at the repository root next to the package, not in the working directory.
SCRIPT_LOCATION = Path(__file__).resolve().parents[3] / "alembic"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our scripts and at `url`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (the latest by default)."""
    _migrate(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` (`base` drops everything)."""
    _migrate(url, command.downgrade, revision)


def _migrate(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    """Run one Alembic command in a transaction on our own engine (the dialect settings of
    `make_engine` apply to migrations too)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            step(config, revision)
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The latest revision among the scripts."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def is_current(engine: Engine) -> bool:
    """Whether the database has every migration applied (for `/readyz`)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return False
        current = MigrationContext.configure(connection).get_current_revision()
    return current == head_revision()
