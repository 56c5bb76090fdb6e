"""`metering outcomes rederive` and `metering rules apply --apply`, on both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from metering.surfaces.cli.main import app
from tests.metering.catalog.subscriptions.support import (
    outcome_rows,
    resolution,
    rules,
    send,
    spans,
    stale_marks,
)
from tests.metering.conftest import create_customer, create_plan
from tests.metering.ledger.events.helpers import table
from tests.metering.platform.api.support import make_vendor

runner = CliRunner()


def _setup(engine: Engine) -> tuple[str, str]:
    """A vendor with customer acme on version 1, events in October and November."""
    vendor = make_vendor(engine, "Acme AI").vendor.id
    plan_id = create_plan(engine, vendor, rules(1))
    create_customer(engine, vendor, "acme", plan_id)
    create_plan(engine, vendor, rules(2, "1.50"))
    send(
        engine,
        vendor,
        "2026-11-10T00:00",
        resolution("r1", "2026-10-02T09:00"),
        resolution("r2", "2026-10-03T09:00", "c-2"),
        resolution("r3", "2026-11-02T09:00", "c-3"),
    )
    return vendor, plan_id


def test_rederive_one_period_after_a_subscription_edited_by_hand(
    cli_database: str, engine: Engine
) -> None:
    _setup(engine)
    with engine.begin() as connection:  # an operator points acme at version 2 by hand
        connection.exec_driver_sql(
            "UPDATE subscriptions SET plan_version_id = "
            "(SELECT id FROM plan_versions WHERE version = 2)"
        )
    result = runner.invoke(
        app, ["outcomes", "rederive", "--customer", "acme", "--period", "2026-10"]
    )
    assert result.exit_code == 0, result.output
    (acme,) = [customer_id for (customer_id,) in table(engine, "customers", "id")]
    assert (
        f"customer acme ({acme}): 2 event(s) from 2026-10-01 00:00 to 2026-11-01 00:00 UTC "
        "derived again"
    ) in result.output
    assert [line.split() for line in result.output.splitlines() if "counted" in line] == [
        ["│", "counted", "│", "2", "│", "2", "│"]
    ]
    # October is derived under version 2; November keeps its rows until asked.
    assert [(e, v) for e, v, _, _, _ in outcome_rows(engine)] == [("r1", 2), ("r2", 2), ("r3", 1)]
    assert stale_marks(engine) == [("2026-10-01T00:00", 2)]


def test_rederive_refuses_unknown_customers_and_periods(cli_database: str, engine: Engine) -> None:
    _setup(engine)
    unknown = runner.invoke(app, ["outcomes", "rederive", "--customer", "nobody"])
    assert unknown.exit_code == 1
    assert "error: no customer 'nobody'" in unknown.output
    wrong_vendor = runner.invoke(
        app, ["outcomes", "rederive", "--customer", "acme", "--vendor", "Globex"]
    )
    assert "error: no vendor with id or name 'Globex'" in wrong_vendor.output
    bad = runner.invoke(app, ["outcomes", "rederive", "--customer", "acme", "--period", "2026-13"])
    assert bad.exit_code == 1
    assert "error: customer 'acme': '2026-13' is not a month; expected YYYY-MM" in bad.output
    before = runner.invoke(
        app, ["outcomes", "rederive", "--customer", "acme", "--period", "2019-05"]
    )
    assert before.exit_code == 1
    assert (
        "error: customer 'acme': period 2019-05 is outside the customer's subscriptions "
        "(2020-01-01T00:00:00+00:00 to now)"
    ) in before.output
    everything = runner.invoke(app, ["outcomes", "rederive", "--customer", "acme"])
    assert everything.exit_code == 0, everything.output
    assert "3 event(s) derived again" in everything.output


def test_rules_apply_moves_subscribers_as_asked(
    cli_database: str, engine: Engine, tmp_path: Path
) -> None:
    vendor = make_vendor(engine, "Acme AI").vendor.id
    create_customer(engine, vendor, "acme", create_plan(engine, vendor, rules(1)))
    path = tmp_path / "rules.yaml"
    path.write_text(rules(2, "1.50"))
    kept = runner.invoke(app, ["rules", "apply", str(path), "--vendor", vendor, "--apply", "none"])
    assert kept.exit_code == 0, kept.output
    assert "subscriber" not in kept.output
    assert [version for version, _, _ in spans(engine)] == [1]
    moved = runner.invoke(
        app, ["rules", "apply", str(path), "--vendor", vendor, "--apply", "immediately"]
    )
    assert moved.exit_code == 0, moved.output
    assert "1 subscriber(s) move to version 2 now" in moved.output
    assert [(version, end is None) for version, _, end in spans(engine)] == [(1, False), (2, True)]
