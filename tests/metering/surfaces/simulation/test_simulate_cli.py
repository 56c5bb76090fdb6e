"""`metering rules simulate` as an operator runs it, and proof that it writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from metering.surfaces.cli.main import app
from tests.metering.billing.invoices.helpers import RULES, invoices
from tests.metering.conftest import VendorFixture, create_plan, create_vendor
from tests.metering.surfaces.simulation.fingerprint import fingerprint
from tests.metering.surfaces.simulation.support import PROPOSED, between, billed_october

runner = CliRunner()


def simulate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["rules", "simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def proposal(tmp_path: Path, text: str = PROPOSED) -> str:
    path = tmp_path / "proposed.yaml"
    path.write_text(text)
    return str(path)


def test_the_table_shows_amounts_per_customer_and_the_changed_events(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    billed_october(engine, vendor.id)
    start, end = between()

    code, out, _ = simulate("--proposed", proposal(tmp_path), "--from", start, "--to", end)

    assert code == 0, out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "│ acme │ 38.98 │ 43.54 │ +4.56 │ +11.70 % │" in lines
    assert "│ globex │ 25.00 │ 25.00 │ +0.00 │ +0.00 % │" in lines
    assert "│ total │ 88.98 │ 93.54 │ +4.56 │ +5.12 % │" in lines
    assert "│ resolved_conversation │ excluded by where │ counted │ 1 │" in lines
    assert "│ r2 │ acme │ resolved_conversation │ reversed → counted │" in lines


def test_json_is_the_api_document_and_unchanged_rules_cost_the_invoices(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    history = billed_october(engine, vendor.id)
    start, end = between()

    code, out, _ = simulate(
        "--proposed", proposal(tmp_path, RULES), "--plan", history.plan_id, "--from", start,
        "--to", end, "--json",
    )  # fmt: skip

    assert code == 0
    document = json.loads(out)
    issued = {i.customer_id: f"{i.total:.2f}" for i in invoices(engine)}
    assert {c["customer_id"]: c["current"] for c in document["customers"]} == issued
    assert {c["difference"] for c in document["customers"]} == {"0.00"}
    assert (document["from"], document["to"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")


def test_a_simulation_leaves_the_database_exactly_as_it_was(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    billed_october(engine, vendor.id)
    before = fingerprint(engine)
    start, end = between()

    code, _, _ = simulate("--proposed", proposal(tmp_path), "--from", start, "--to", end)

    assert code == 0
    assert fingerprint(engine) == before


def test_an_invalid_proposal_is_reported_at_its_line_and_column(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    billed_october(engine, vendor.id)
    broken = proposal(tmp_path, PROPOSED.replace("model: graduated", "model: graduatd"))
    start, end = between()

    code, out, err = simulate("--proposed", broken, "--from", start, "--to", end)

    assert code == 1 and out == ""
    assert f"{broken}:19:12: unknown charge model 'graduatd'" in err


def test_a_plan_name_shared_by_two_vendors_needs_the_vendor(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    billed_october(engine, vendor.id)
    other = create_vendor(engine, "Globex AI")
    create_plan(engine, other.id, RULES)
    start, end = between()

    code, _, err = simulate("--proposed", proposal(tmp_path), "--from", start, "--to", end)
    assert code == 1
    assert "several vendors have a plan 'support-agent'" in err and "pass --vendor" in err

    code, out, _ = simulate(
        "--proposed", proposal(tmp_path), "--vendor", "Globex AI", "--from", start, "--to", end,
        "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["customers"] == []


def test_another_currency_is_refused(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    billed_october(engine, vendor.id)
    euros = proposal(tmp_path, PROPOSED.replace("currency: usd", "currency: eur"))
    start, end = between()

    code, _, err = simulate("--proposed", euros, "--from", start, "--to", end)

    assert code == 1
    assert "the proposed file bills in EUR but version 1 of plan 'support-agent' bills in USD" in (
        " ".join(err.split())
    )
