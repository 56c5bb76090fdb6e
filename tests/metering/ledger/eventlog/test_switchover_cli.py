"""`metering eventlog backfill` (resumable) and `verify`, against a ClickHouse 18.16 server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from metering.catalog.vendors.models import Vendor
from metering.ledger.eventlog.config import open_eventlog
from metering.ledger.eventlog.switchover import backfill
from metering.platform.settings import get_settings
from metering.surfaces.cli.main import app
from tests.metering.conftest import create_customer, create_plan, create_vendor
from tests.metering.ledger.eventlog.conftest import fresh_table
from tests.metering.ledger.eventlog.server import Server
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import (
    REPORTED,
    RULES,
    at,
    call,
    money,
    month_of_conversations,
)

runner = CliRunner()


class Stopped(Exception):
    pass


@pytest.fixture
def url(
    database_url: str, clickhouse_servers: list[Server], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    found = f"{clickhouse_servers[0].url}/?table={fresh_table()}"
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    monkeypatch.setenv("METERING_EVENTLOG_URL", found)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield found
    get_settings.cache_clear()


def test_a_stopped_backfill_goes_on_and_verify_finds_the_stores_equal(
    engine: Engine, url: str
) -> None:
    vendor = create_vendor(engine, "Switching")
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan)
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)  # 10 events

    def stop_after_six(done: int, total: int) -> None:
        if done >= 6:
            raise Stopped

    log = open_eventlog(url)
    with Session(engine) as session, pytest.raises(Stopped):
        backfill(session, log, vendor.id, stop_after_six, batch=3)
    log.close()

    result = runner.invoke(app, ["eventlog", "backfill", "--vendor", vendor.id])
    assert result.exit_code == 0, result.output
    assert f"copied 4 events of vendor {vendor.id} into the event log" in result.output

    result = runner.invoke(app, ["eventlog", "verify", "--vendor", "Switching"])
    assert result.exit_code == 0, result.output
    assert "2026-11" in result.output and "same" in result.output
    assert "10 events, 16700 tokens, 0.0623 usd" in result.output
    assert "1 customer months checked" in result.output

    ingest_all(engine, vendor.id, [call("e-9", "c-9", money("0.01"), at(21))], REPORTED)
    result = runner.invoke(app, ["eventlog", "verify", "--vendor", vendor.id])
    assert result.exit_code == 1
    assert "DIFFERENT" in result.output
    assert "1 customer months differ between the stores" in result.output


def test_enable_turns_the_vendor_setting_on_and_off(engine: Engine, url: str) -> None:
    vendor = create_vendor(engine, "Switching")
    result = runner.invoke(app, ["eventlog", "enable", "--vendor", "Switching"])
    assert result.exit_code == 0, result.output
    assert f"event log on for vendor {vendor.id}" in result.output
    assert _eventlog(engine, vendor.id) is True
    result = runner.invoke(app, ["eventlog", "enable", "--vendor", vendor.id, "--off"])
    assert f"event log off for vendor {vendor.id}" in result.output
    assert _eventlog(engine, vendor.id) is False


def test_enable_needs_the_event_log_url(
    engine: Engine, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_vendor(engine, "Switching")
    monkeypatch.delenv("METERING_EVENTLOG_URL")
    get_settings.cache_clear()
    result = runner.invoke(app, ["eventlog", "enable", "--vendor", "Switching"])
    assert result.exit_code == 1
    assert "METERING_EVENTLOG_URL is not set" in result.output


def _eventlog(engine: Engine, vendor_id: str) -> bool:
    with Session(engine) as session:
        found = session.get(Vendor, vendor_id)
        assert found is not None
        return found.eventlog
