"""`metering rules check` and `metering rules schema`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metering.surfaces.cli.main import app

runner = CliRunner()

VALID = """\
plan: support-agent
version: 3
currency: usd
outcomes:
  resolved_conversation:
    event: conversation.resolved
    unique_by: properties.conversation_id
  escalation_avoided:
    event: conversation.closed
charges:
  - outcome: resolved_conversation
    model: graduated
    tiers:
      - {up_to: 1000, unit_price: 0.99}
      - {up_to: null, unit_price: 0.79}
  - outcome: escalation_avoided
    model: per_unit
    unit_price: "0.10"
  - {name: Platform fee, model: flat, price: "200.00"}
"""

INVALID = """\
plan: support-agent
version: three
currency: usd
billing:
  interval: week
outcomes:
  resolved_conversation:
    event: conversation.resolved
charges:
  - outcome: resolved_conversation
    model: per_unit
    unit_prise: "0.99"
"""


@pytest.fixture
def rule_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "support-agent.yaml").write_text(VALID)
    (tmp_path / "broken.yaml").write_text(INVALID)
    (tmp_path / "weekly.yaml").write_text(
        "plan: weekly\nversion: 1\ncurrency: eur\nbilling: {interval: week}\n"
        "charges:\n  - {model: flat, price: 5}\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "rules" in result.output
    assert "Usage" in result.output


def test_check_valid_files_prints_a_summary_each_and_exits_0(rule_files: Path) -> None:
    result = runner.invoke(app, ["rules", "check", "support-agent.yaml", "weekly.yaml"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "support-agent.yaml: plan support-agent v3 (usd, month): 2 outcomes, 3 charges",
        "weekly.yaml: plan weekly v1 (eur, week): 0 outcomes, 1 charge",
    ]


def test_check_invalid_file_prints_located_errors_and_exits_1(rule_files: Path) -> None:
    result = runner.invoke(app, ["rules", "check", "support-agent.yaml", "broken.yaml"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "support-agent.yaml: plan support-agent v3 (usd, month): 2 outcomes, 3 charges",
        "broken.yaml:2:10: expected a whole number, got 'three'",
        "broken.yaml:10:5: missing required key 'unit_price'",
        "broken.yaml:12:5: unknown key 'unit_prise' in per unit charge; expected one of "
        "model, name, outcome, free_units, group_by, prices, tiers_across, unit_price, divide_by, "
        "round",
    ]


def test_long_error_lines_are_not_wrapped(rule_files: Path) -> None:
    result = runner.invoke(app, ["rules", "check", "broken.yaml"], terminal_width=40)
    assert all(line.startswith("broken.yaml:") for line in result.output.splitlines())


def test_unreadable_file_is_an_error_line(rule_files: Path) -> None:
    result = runner.invoke(app, ["rules", "check", "absent.yaml", "weekly.yaml"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "absent.yaml:1:1: cannot read file: No such file or directory",
        "weekly.yaml: plan weekly v1 (eur, week): 0 outcomes, 1 charge",
    ]


def test_check_needs_a_file() -> None:
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 2


def test_schema_prints_the_json_schema_indented() -> None:
    result = runner.invoke(app, ["rules", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "plan" in schema["properties"]
    assert result.output.startswith('{\n  "$schema"')


def test_price_command_is_registered() -> None:
    result = runner.invoke(app, ["rules", "price", "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_installed_console_script_checks_files(rule_files: Path) -> None:
    metering = Path(sys.executable).parent / "metering"
    completed = subprocess.run(
        [str(metering), "rules", "check", "broken.yaml", "support-agent.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stdout.splitlines()[:3] == [
        "broken.yaml:2:10: expected a whole number, got 'three'",
        "broken.yaml:10:5: missing required key 'unit_price'",
        "broken.yaml:12:5: unknown key 'unit_prise' in per unit charge; expected one of "
        "model, name, outcome, free_units, group_by, prices, tiers_across, unit_price, divide_by, "
        "round",
    ]
    assert completed.stdout.splitlines()[3].startswith("support-agent.yaml: plan support-agent")


def test_check_names_the_outcomes_priced_per_value(tmp_path: Path) -> None:
    rules = tmp_path / "calls.yaml"
    rules.write_text(
        "plan: calls\nversion: 1\ncurrency: usd\noutcomes:\n  call: {event: model.called}\n"
        "charges:\n  - {outcome: call, model: per_unit, group_by: properties.model,\n"
        '     prices: {gpt-4o: "0.05", default: "0.01"}}\n'
    )
    result = CliRunner().invoke(app, ["rules", "check", str(rules)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{rules}: plan calls v1 (usd, month): 1 outcome, 1 charge "
        "(priced per value: call by properties.model)"
    ]
