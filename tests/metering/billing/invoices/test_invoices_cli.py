"""`metering invoices run` and `metering invoices show` against the test database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from metering.ledger.outcomes.models import StalePeriod
from metering.platform.settings import get_settings
from metering.surfaces.cli import invoices as invoices_cli
from metering.surfaces.cli.main import app
from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    deal,
    invoices,
    reopen,
    resolution,
    send,
    update_invoice,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan

runner = CliRunner()
PRESENT = datetime(2027, 1, 1, tzinfo=UTC)
"""The CLI's present in these tests: every --as-of they pass is in its past."""


@pytest.fixture
def cli_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setattr(invoices_cli, "utcnow", lambda: PRESENT)
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")  # tables unwrapped, as on a wide terminal
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_run_closes_due_periods_and_show_prints_the_lines(
    cli_database: str, engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    create_customer(engine, vendor.id, "globex", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, [*events, deal("d1", at(3), "1000.50")], at(25))

    early = runner.invoke(app, ["invoices", "run", "--as-of", "2026-11-03T23:59Z"])
    closed = runner.invoke(app, ["invoices", "run", "--as-of", "2026-11-05T00:00Z"])
    again = runner.invoke(app, ["invoices", "run", "--as-of", "2026-11-05T00:00Z"])

    assert early.exit_code == 0, early.output
    assert "0 invoice(s) issued" in early.output
    assert closed.exit_code == 0, closed.output
    assert "2 invoice(s) issued as of 2026-11-05T00:00:00+00:00" in closed.output
    assert "acme" in closed.output and "2026-10" in closed.output and "40.75 usd" in closed.output
    assert "0 invoice(s) issued" in again.output

    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))
    december = runner.invoke(
        app, ["invoices", "run", "--as-of", "2026-12-05T00:00Z", "--customer", "acme"]
    )
    assert "1 invoice(s) issued" in december.output
    assert "1 earlier period(s) corrected" in december.output
    [_, _, november] = invoices(engine)
    shown = runner.invoke(app, ["invoices", "show", november.id])
    assert shown.exit_code == 0, shown.output
    assert "invoice #3" in shown.output
    assert "Correction of invoice #1" in shown.output
    assert "-0.79" in shown.output
    assert "24.21 usd" in shown.output


def test_run_and_show_refuse_what_they_cannot_find(cli_database: str) -> None:
    unknown = runner.invoke(app, ["invoices", "run", "--customer", "nobody"])
    naive = runner.invoke(app, ["invoices", "run", "--as-of", "2026-11-05T00:00"])
    missing = runner.invoke(app, ["invoices", "show", "inv_nope"])

    assert unknown.exit_code == 1
    assert "no customer 'nobody'" in unknown.output
    assert naive.exit_code == 1
    assert "has no timezone" in naive.output
    assert missing.exit_code == 1
    assert "no invoice 'inv_nope'" in missing.output


def test_void_voids_once_bills_its_corrections_again_and_refuses_a_paid_invoice(
    cli_database: str, engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(8)]
    send(engine, vendor.id, [*events, deal("d1", at(3), "1000.50")], at(25))
    runner.invoke(app, ["invoices", "run", "--as-of", "2026-11-05T00:00Z"])
    send(engine, vendor.id, [reopen("o1", at(30), "c3")], at(10, month=11))
    runner.invoke(app, ["invoices", "run", "--as-of", "2026-12-05T00:00Z"])
    october, november = invoices(engine)
    update_invoice(engine, october.id, status="paid")

    voided = runner.invoke(app, ["invoices", "void", november.id])
    again = runner.invoke(app, ["invoices", "void", november.id])
    paid = runner.invoke(app, ["invoices", "void", october.id])
    missing = runner.invoke(app, ["invoices", "void", "inv_nope"])

    assert voided.exit_code == 0, voided.output
    assert f"invoice #2 {november.id} is void (was issued)" in voided.output
    assert again.exit_code == 0, again.output
    assert "was void already: nothing changed" in again.output
    assert paid.exit_code == 1
    assert f"Invoice '{october.id}' is paid and cannot be voided" in paid.output
    assert missing.exit_code == 1
    assert "no invoice 'inv_nope'" in missing.output
    assert [invoice.status for invoice in invoices(engine)] == ["paid", "void"]
    with Session(engine) as session:
        assert [m.period_start for m in session.exec(select(StalePeriod)).all()] == [OCTOBER]


def test_run_refuses_an_as_of_in_the_future_unless_forced(
    cli_database: str, engine: Engine, vendor: VendorFixture
) -> None:
    plan = create_plan(engine, vendor.id, RULES)
    create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, [resolution("r1", at(1), "c1")], at(25))
    future = "2027-02-05T00:00Z"  # October to December due, January not even ended now

    refused = runner.invoke(app, ["invoices", "run", "--as-of", future])

    assert refused.exit_code == 1
    assert "--as-of 2027-02-05T00:00:00+00:00 is in the future" in refused.output
    assert "now is 2027-01-01T00:00:00+00:00" in refused.output
    assert "real, immutable invoices for periods that have not ended" in refused.output
    assert "Pass --force" in refused.output
    assert invoices(engine) == []

    forced = runner.invoke(app, ["invoices", "run", "--as-of", future, "--force"])

    assert forced.exit_code == 0, forced.output
    assert forced.stderr.startswith("warning: --as-of 2027-02-05T00:00:00+00:00 is in the future")
    assert "4 invoice(s) issued as of 2027-02-05T00:00:00+00:00" in forced.stdout
    assert [i.period_start.month for i in invoices(engine)] == [10, 11, 12, 1]
