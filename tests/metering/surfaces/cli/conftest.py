"""CLI commands read the database from the environment: point it at the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metering.platform.settings import get_settings


@pytest.fixture
def cli_database(
    database_url: str, engine: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()
