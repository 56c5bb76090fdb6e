"""`rules simulate` shows what credits would have drawn, per customer and period, on both
sides, in the close's order; it never writes a ledger entry (both DBs).

On the billed October of `support` (acme 38.98 now, 43.54 proposed; globex and initech
25.00 on both sides; November open as of Nov 20: 25.00 each, fee and true-up), with grants
valid from October 1:
- acme: A 30.00 priority 10 expiring Nov 1 (it pays October only), B 10.00 priority 100.
  Current: October A 30.00 then B 8.98; November B its last 1.02. Proposed: October A 30.00
  then B 10.00 (43.54 - 40.00 = 3.54 left due); November nothing left.
- globex: C 30.00 for the Platform fee only: October 20.00 (not the 5.00 true-up), November
  the 10.00 left, on both sides.
Credits in all: 40.00 + 30.00 = 70.00 on each side.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from metering.surfaces.cli.main import app
from metering.surfaces.simulation.schemas import simulation_json
from tests.metering.billing.credits.helpers import entries, grant, remaining
from tests.metering.billing.invoices.helpers import NOVEMBER, OCTOBER
from tests.metering.conftest import VendorFixture
from tests.metering.surfaces.simulation.support import NOW, PROPOSED, History, billed_october
from tests.metering.surfaces.simulation.test_simulate_service import run

DECEMBER = datetime(2026, 12, 1, tzinfo=UTC)


def with_grants(engine: Engine, vendor_id: str) -> tuple[History, dict[str, str]]:
    history = billed_october(engine, vendor_id)
    acme, globex = history.customers["acme"], history.customers["globex"]
    made = {
        "A": grant(
            engine, acme, "30.00", NOW, name="A", priority=10, effective_at=OCTOBER,
            expires_at=NOVEMBER,
        ),
        "B": grant(engine, acme, "10.00", NOW, name="B", effective_at=OCTOBER),
        "C": grant(
            engine, globex, "30.00", NOW, name="C", effective_at=OCTOBER,
            applies_to=["Platform fee"],
        ),
    }  # fmt: skip
    return history, made


def drawn(customer: dict[str, Any]) -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    return [
        (
            d["side"],
            d["from"][:10],
            d["invoice"],
            d["drawn"],
            [(g["name"], g["amount"]) for g in d["grants"]],
        )
        for d in customer["drawdowns"]
    ]


def test_each_side_draws_in_the_closes_order_period_after_period(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    history, made = with_grants(engine, vendor.id)
    before = entries(engine)

    document = simulation_json(run(database_url, history.plan_id, PROPOSED, end=DECEMBER))

    by_name = {c["customer"]: c for c in document["customers"]}  # type: ignore[attr-defined]
    acme, globex, initech = by_name["acme"], by_name["globex"], by_name["initech"]
    assert drawn(acme) == [
        ("current", "2026-10-01", "38.98", "38.98", [("A", "30.00"), ("B", "8.98")]),
        ("current", "2026-11-01", "25.00", "1.02", [("B", "1.02")]),
        ("proposed", "2026-10-01", "43.54", "40.00", [("A", "30.00"), ("B", "10.00")]),
    ]
    assert acme["credits"] == {
        "current": "40.00",
        "proposed": "40.00",
        "difference": "0.00",
        "percent_change": "0.00",
    }
    assert drawn(globex) == [
        ("current", "2026-10-01", "25.00", "20.00", [("C", "20.00")]),
        ("current", "2026-11-01", "25.00", "10.00", [("C", "10.00")]),
        ("proposed", "2026-10-01", "25.00", "20.00", [("C", "20.00")]),
        ("proposed", "2026-11-01", "25.00", "10.00", [("C", "10.00")]),
    ]
    assert drawn(initech) == []
    assert initech["credits"]["current"] == "0.00"
    assert document["credits"]["current"] == document["credits"]["proposed"] == "70.00"  # type: ignore[index]
    # Read-only: the grants keep their balances and the ledger has no new entry.
    assert entries(engine) == before
    assert [remaining(engine, made[n]) for n in "ABC"] == [30, 10, 30]


def test_the_cli_prints_the_draws_by_period(
    engine: Engine, vendor: VendorFixture, cli_database: str, tmp_path: Path
) -> None:
    with_grants(engine, vendor.id)
    path = tmp_path / "proposed.yaml"
    path.write_text(PROPOSED)

    result = CliRunner().invoke(
        app,
        [
            "rules", "simulate", "--proposed", str(path), "--from", OCTOBER.isoformat(),
            "--to", DECEMBER.isoformat(),
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.stdout
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "│ acme │ current │ 2026-10-01 │ 38.98 │ 38.98 │ A 30.00, B 8.98 │" in lines
    assert "│ acme │ proposed │ 2026-10-01 │ 43.54 │ 40.00 │ A 30.00, B 10.00 │" in lines
    assert "Credits drawn: current 70.00, proposed 70.00 (+0.00) USD" in lines
