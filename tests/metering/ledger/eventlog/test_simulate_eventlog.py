"""`metering rules simulate` reads an event-log vendor's cost-only events from ClickHouse, so
a proposal that counts them gives what it gives for a vendor without the event log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from metering.catalog.plans.models import Plan
from metering.platform.settings import get_settings
from metering.surfaces.cli import simulate as simulate_cli
from metering.surfaces.cli.main import app
from metering.surfaces.simulation.service import simulate
from pricing_rules.loader import load_rules
from tests.metering.conftest import create_customer, create_plan, create_vendor
from tests.metering.ledger.eventlog.helpers import set_eventlog
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import REPORTED, RULES, month_of_conversations

PROPOSED = RULES.replace(
    "charges:\n",
    "  call:\n    event: model.call\ncharges:\n"
    '  - {outcome: call, model: per_unit, unit_price: "0.01"}\n',
)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    monkeypatch.setattr(simulate_cli, "utcnow", lambda: REPORTED)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _vendor(engine: Engine, name: str, eventlog: bool) -> str:
    vendor_id = create_vendor(engine, name).id
    set_eventlog(engine, vendor_id, eventlog)
    plan_id = create_plan(engine, vendor_id, RULES)
    create_customer(engine, vendor_id, "acme", plan_id)
    create_customer(engine, vendor_id, "globex", plan_id)
    ingest_all(engine, vendor_id, month_of_conversations(), REPORTED)
    return plan_id


def _figures(engine: Engine, plan_id: str) -> list[Any]:
    with Session(engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        found = simulate(session, plan, load_rules(PROPOSED), START, END, REPORTED)
    return [(c.external_id, c.current, c.proposed, c.events) for c in found.customers]


def test_a_proposal_counting_cost_only_events_sees_them_in_the_event_log(
    engine: Engine, eventlog_url: str, cli_database: str, tmp_path: Path
) -> None:
    plain = _vendor(engine, "Plain", eventlog=False)
    logged = _vendor(engine, "Logged", eventlog=True)

    found = _figures(engine, logged)

    assert found == _figures(engine, plain)
    customer, current, proposed, events = found[0]
    assert (customer, events) == ("acme", 10)  # 7 model calls (log only), 3 in SQL
    assert proposed - current == Decimal("0.07")  # the 7 calls at 0.01
    path = tmp_path / "proposed.yaml"
    path.write_text(PROPOSED)
    args = [
        "--proposed",
        str(path),
        "--plan",
        logged,
        "--from",
        "2026-11-01T00:00Z",
        "--to",
        "2026-12-01T00:00Z",
    ]
    result = CliRunner().invoke(app, ["rules", "simulate", *args, "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    by_customer = {c["customer"]: c for c in document["customers"]}
    assert by_customer["acme"]["difference"] == "0.07"
