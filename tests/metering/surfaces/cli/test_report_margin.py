"""`metering report margin`: the rich table and the CSV, against the test database."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from metering.surfaces.cli.main import app
from tests.metering.conftest import VendorFixture, create_customer, create_plan, create_vendor
from tests.metering.ledger.events.helpers import ingest_all
from tests.metering.surfaces.reports.helpers import REPORTED, RULES, month_of_conversations

runner = CliRunner()
AS_OF = ["--as-of", "2026-12-02T00:00Z"]


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # the table unwrapped, as on a wide terminal
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan)
    ingest_all(engine, vendor.id, month_of_conversations(), REPORTED)
    return customer


def test_table_rounds_to_the_cent(cli_database: str, acme: str) -> None:
    result = runner.invoke(app, ["report", "margin", "--period", "2026-11", *AS_OF])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    outcome = next(line for line in lines if "resolved_conversation" in line)
    assert [cell.strip() for cell in outcome.split("│")[1:-1]] == [
        "acme (usd, live)",
        "resolved_conversation",
        "1",
        "0",
        "0.99",
        "0.02",
        "0.97",
        "97.9%",
    ]
    assert outcome.endswith(" 97.9% │")  # numbers right-aligned
    unbilled = next(line for line in lines if "unbilled cost" in line)
    assert "0.06" in unbilled
    by_outcome, total = (line for line in lines if "total usd" in line or " all " in line)
    assert [cell.strip() for cell in by_outcome.split("│")[1:3]] == [
        "total usd",
        "resolved_conversation",
    ]
    assert [cell.strip() for cell in total.split("│")[1:-1]] == [
        "",
        "all",
        "1",
        "0",
        "20.99",
        "0.08",
        "20.91",
        "99.6%",
    ]
    assert "acme: 1 event(s) with unpriced cost: model 'gpt-9' has no token prices" in (
        result.stdout
    )


def test_csv_has_the_exact_amounts(cli_database: str, acme: str) -> None:
    result = runner.invoke(app, ["report", "margin", "--period", "2026-11", "--csv", *AS_OF])
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["row"] for r in records] == ["outcome", "customer", "total", "total"]
    outcome, customer, by_outcome, total = records
    assert (by_outcome["outcome"], by_outcome["cost"], by_outcome["currency"]) == (
        "resolved_conversation",
        "0.021",
        "usd",
    )
    assert outcome["outcome"] == "resolved_conversation"
    assert (outcome["revenue"], outcome["cost"], outcome["margin"]) == ("0.99", "0.021", "0.969")
    assert outcome["margin_percent"] == "97.88"
    assert customer["customer"] == "acme"
    assert (customer["other_revenue"], customer["unbilled_cost"]) == ("20.00", "0.057")
    assert customer["unpriced_events"] == "1"
    assert (total["revenue"], total["cost"], total["margin"]) == ("20.99", "0.078", "20.912")


def test_refuses_what_it_cannot_read(cli_database: str, engine: Engine, acme: str) -> None:
    bad = runner.invoke(app, ["report", "margin", "--period", "nov"])
    assert bad.exit_code == 1
    assert "period 'nov' is not a period label" in bad.stderr
    create_vendor(engine, "Other AI")
    ambiguous = runner.invoke(app, ["report", "margin", "--period", "2026-11"])
    assert ambiguous.exit_code == 1
    assert "pass --vendor" in ambiguous.stderr
    chosen = runner.invoke(
        app, ["report", "margin", "--period", "2026-11", "--vendor", "Other AI", *AS_OF]
    )
    assert chosen.exit_code == 0
    assert "no customer has a period 2026-11" in chosen.stdout
    by_customer = runner.invoke(
        app, ["report", "margin", "--period", "2026-11", "--customer", "acme", *AS_OF]
    )
    assert "resolved_conversation" in by_customer.stdout
