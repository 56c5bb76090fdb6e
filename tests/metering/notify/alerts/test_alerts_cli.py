"""`metering alerts evaluate` fires what is crossed as of a time, and nothing twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from metering.platform.settings import get_settings
from metering.surfaces.cli.main import app
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.notify.alerts.helpers import add_alert, at, resolutions, rules, send

runner = CliRunner()


@pytest.fixture
def cli_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_evaluate_prints_what_fired(
    cli_database: str, engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, rules())
    acme = create_customer(engine, vendor.id, "acme", plan, at(1, 10, 0))
    alert = add_alert(engine, vendor.id, kind="spend", threshold="10", customer=acme)
    send(engine, vendor.id, resolutions("a", 3, at(3)), at(3))  # 12.50

    first = runner.invoke(app, ["alerts", "evaluate", "--as-of", "2026-10-04T00:00:00Z"])
    assert first.exit_code == 0, first.output
    assert alert in first.output and "12.5" in first.output
    assert "1 alert(s) fired as of 2026-10-04T00:00:00+00:00" in first.output

    again = runner.invoke(app, ["alerts", "evaluate", "--as-of", "2026-10-05T00:00:00Z"])
    assert "0 alert(s) fired" in again.output
    wrong = runner.invoke(app, ["alerts", "evaluate", "--as-of", "tomorrow"])
    assert wrong.exit_code != 0 and "not an ISO 8601 time" in wrong.output
