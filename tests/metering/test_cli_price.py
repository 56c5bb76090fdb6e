"""`metering rules price` as a user runs it: JSON, table, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from metering.surfaces.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "pricing_rules" / "examples"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["rules", "price", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_output_is_one_object_with_customers_sorted() -> None:
    code, out, _ = run(
        str(EXAMPLES / "support-agent.yaml"),
        "--events",
        str(EXAMPLES / "support-events.jsonl"),
        "--period",
        "2026-11",
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    assert [c["customer"] for c in report["customers"]] == ["acme", "globex", "initech"]
    assert (report["plan"], report["version"], report["currency"]) == ("support-agent", 1, "usd")
    assert report["customers"][0]["total"] == "22.97"


def test_as_of_before_settlement_leaves_outcomes_pending() -> None:
    code, out, _ = run(
        str(EXAMPLES / "support-agent.yaml"),
        "--events",
        str(EXAMPLES / "support-events.jsonl"),
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-12-01T00:00:00Z",
        "--as-of",
        "2026-11-03T00:00:00Z",
        "--json",
    )
    assert code == 0
    acme = json.loads(out)["customers"][0]
    # c-1 and c-2 were resolved on Nov 2 and settle 72 hours later: both still pending.
    assert acme["pending"] == {"resolved_conversation": 2}
    assert acme["lines"][0]["quantity"] == "0"


def test_table_output_shows_lines_and_totals() -> None:
    code, out, _ = run(
        str(EXAMPLES / "deal-value.yaml"),
        "--events",
        str(EXAMPLES / "deal-events.jsonl"),
        "--period",
        "2026-11",
    )
    assert code == 0
    assert "Deal commission" in out and "151.00" in out
    assert "deal_006" in out and "properties.amount is missing" in out


def test_a_bad_events_file_prices_nothing(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    good = (EXAMPLES / "support-events.jsonl").read_text().splitlines()
    events.write_text("\n".join([*good[:16], "{oops", *good[16:], '{"type": "x"}']) + "\n")
    code, out, err = run(
        str(EXAMPLES / "support-agent.yaml"), "--events", str(events), "--period", "2026-11"
    )
    assert code == 1
    assert out == ""
    assert f"{events}:16: invalid JSON" in err
    assert f"{events}:17: id: is required" in err
    assert "nothing priced" in err


def test_period_label_must_fit_the_interval() -> None:
    code, _, err = run(
        str(EXAMPLES / "support-agent.yaml"),
        "--events",
        str(EXAMPLES / "support-events.jsonl"),
        "--period",
        "2026-13",
    )
    assert code == 2
    assert "--period" in err


def test_invalid_rule_file_is_reported_with_its_location(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        "plan: x\nversion: 1\ncurrency: usx\ncharges:\n  - {model: flat, price: '1'}\n"
    )
    code, _, err = run(
        str(rules), "--events", str(EXAMPLES / "support-events.jsonl"), "--period", "2026-11"
    )
    assert code == 1
    assert f"{rules}:3:11: unknown currency 'usx'" in err


def test_json_counts_superseded_rejected_and_unverified_outcomes() -> None:
    """The README's support-outcomes reading: c-2's resolution is superseded by its
    qualification, c-5's is rejected by its CSAT score, c-3's and c-6's are never verified."""
    code, out, _ = run(
        str(EXAMPLES / "support-outcomes.yaml"),
        "--events",
        str(EXAMPLES / "support-outcomes-events.jsonl"),
        "--period",
        "2026-11",
        "--as-of",
        "2026-12-04T00:00:00Z",
        "--json",
    )
    assert code == 0
    [acme] = json.loads(out)["customers"]
    none = {"qualification": 0, "resolution": 0, "handoff": 0}
    assert acme["superseded"] == {**none, "resolution": 1}
    assert acme["rejected"] == {**none, "resolution": 1}
    assert acme["awaiting_verification"] == {**none, "resolution": 2}
    assert acme["pending"] == none and acme["reversed"] == none
    assert acme["total"] == "12.96"
