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


EXCLUSIVE = """\
plan: p
version: 1
currency: usd
exclusive:
  key: properties.conversation_id
  order: [qualification, resolution]
outcomes:
  qualification: {event: lead.qualified}
  resolution: {event: conversation.resolved}
charges:
  - {outcome: resolution, model: per_unit, unit_price: "0.99"}
"""

VERIFIED = """\
plan: p
version: 1
currency: usd
outcomes:
  resolution:
    event: conversation.resolved
    settle:
      confirmed_by:
        event: resolution.verified
        match: properties.conversation_id
        within: 72h
        otherwise: drop
      rejected_by:
        event: csat.submitted
        match: properties.conversation_id
        where: {properties.score: {lte: 3}}
    evidence: [properties.verdict]
charges:
  - {outcome: resolution, model: per_unit, unit_price: "0.99"}
"""

GROUPED = """\
plan: p
version: 1
currency: usd
outcomes:
  call: {event: model.called}
charges:
  - name: Calls
    outcome: call
    model: graduated
    group_by: properties.model
    tiers_across: value
    prices:
      gpt-4o: [{up_to: 1000, unit_price: "0.99"}, {up_to: null, unit_price: "0.79"}]
      default: "0.49"
"""

# (file text, the one error `metering rules check` prints for it)
MISTAKES = {
    "unknown outcome in order": (
        EXCLUSIVE.replace("resolution]", "resolutoin]"),
        "6:26: order names unknown outcome 'resolutoin'; expected one of the outcomes of this "
        "file (qualification, resolution)",
    ),
    "outcome twice in order": (
        EXCLUSIVE.replace("resolution]", "qualification]"),
        "6:26: outcome 'qualification' is listed twice in order",
    ),
    "exclusive outcome deduplicated on another path": (
        EXCLUSIVE.replace(
            "{event: conversation.resolved}",
            "{event: conversation.resolved, unique_by: properties.ticket}",
        ),
        "9:57: outcome 'resolution' is exclusive on properties.conversation_id, so its "
        "unique_by must be properties.conversation_id or left out (it is properties.ticket)",
    ),
    "exclusive without a key": (
        EXCLUSIVE.replace("  key: properties.conversation_id\n", ""),
        "5:3: missing required key 'key'",
    ),
    "a window of nothing": (
        VERIFIED.replace("within: 72h", "within: 0s"),
        "11:17: within must be longer than 0, or no confirmation could ever come in time; "
        "expected a duration such as 72h",
    ),
    "otherwise neither drop nor count": (
        VERIFIED.replace("otherwise: drop", "otherwise: bill"),
        "12:20: expected one of drop, count, got 'bill'",
    ),
    "confirmed by the outcome's own event": (
        VERIFIED.replace("event: resolution.verified", "event: conversation.resolved"),
        "9:16: confirmed_by.event 'conversation.resolved' is also the outcome's own event: no "
        "event can both make or cancel an outcome and confirm it; expected the event your "
        "verifier, survey or sign-off sends",
    ),
    "confirmed and rejected on different paths": (
        VERIFIED.replace("match: properties.conversation_id", "match: properties.ticket_id", 1),
        "15:16: settle.rejected_by.match is properties.conversation_id but "
        "settle.confirmed_by.match is properties.ticket_id; expected one match path for every "
        "event that reverses, rejects or confirms an outcome",
    ),
    "confirmed_by without a match (one error, not a second about paths)": (
        VERIFIED.replace("        match: properties.conversation_id\n", "", 1),
        "9:9: missing required key 'match'",
    ),
    "confirmed_by without a window": (
        VERIFIED.replace("        within: 72h\n", ""),
        "9:9: missing required key 'within'",
    ),
    "a window on rejected_by": (
        VERIFIED.replace("where: {properties.score: {lte: 3}}", "within: 3d"),
        "16:9: unknown key 'within' in rejected by; expected one of event, match, where",
    ),
    "an unknown operator in rejected_by.where": (
        VERIFIED.replace("{lte: 3}", "{le: 3}"),
        "16:40: unknown operator 'le' for properties.score; expected one of eq, ne, in, "
        "not_in, gt, gte, lt, lte, exists",
    ),
    "evidence without confirmed_by": (
        VERIFIED.replace(
            "      confirmed_by:\n        event: resolution.verified\n"
            "        match: properties.conversation_id\n        within: 72h\n"
            "        otherwise: drop\n",
            "",
        ),
        "12:15: evidence is read on the confirming event; expected settle.confirmed_by on "
        "outcome 'resolution'",
    ),
    "evidence that is not a path": (
        VERIFIED.replace("[properties.verdict]", "[verdict]"),
        "17:16: 'verdict' is not an event path; expected one of id, type, customer, "
        "timestamp, or a dotted path under properties or cost such as "
        "properties.conversation_id",
    ),
    "group_by without prices": (
        GROUPED.split("    prices:")[0],
        "10:15: group_by needs prices: a price for each value, and a default for the others",
    ),
    "prices without a default": (
        GROUPED.replace('      default: "0.49"\n', ""),
        "13:7: prices needs a default: the price of values it does not list",
    ),
    "prices without group_by": (
        GROUPED.replace("    group_by: properties.model\n", ""),
        "12:7: prices needs group_by: the event path whose value picks the price",
    ),
    "tiers_across neither value nor all": (
        GROUPED.replace("tiers_across: value", "tiers_across: every"),
        "11:19: expected one of value, all, got 'every'",
    ),
    "the model's price key beside group_by": (
        GROUPED.replace("tiers_across: value", 'tiers: [{up_to: null, unit_price: "1"}]'),
        "11:12: with group_by the price is in prices; move tiers to prices.default",
    ),
    "a bad tier inside prices": (
        GROUPED.replace('unit_price: "0.99"', 'unit_price: "-0.99"'),
        "13:42: must not be negative, got -0.99",
    ),
    "tiers by value on a per_unit charge": (
        GROUPED.replace("model: graduated", "model: per_unit"),
        '13:15: expected a decimal number such as "0.99", got a list (tiers are for a '
        "graduated or volume charge)",
    ),
    "two paths in group_by": (
        GROUPED.replace("group_by: properties.model", "group_by: [properties.model, region]"),
        "10:15: group_by takes one event path; price a second dimension with an outcome per "
        "value (a where on its path), each grouped by the first",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_of_the_outcome_rules_is_located(tmp_path: Path, mistake: str) -> None:
    text, expected = MISTAKES[mistake]
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"{path}:{expected}"]


PLAN = """\
plan: support
version: 1
currency: usd
outcomes:
  resolved: {event: conversation.resolved}
  call: {event: model.called}
charges:
  - {name: Resolutions, outcome: resolved, model: per_unit, unit_price: "1.00"}
  - {name: Calls, outcome: call, model: per_unit, group_by: properties.model,
     prices: {default: "0.01"}}
  - {name: Platform fee, model: flat, price: "10.00"}
minimum: "15.00"
"""

OVERRIDE_MISTAKES = {
    "a charge the plan does not have": (
        'charges:\n  Setup fee: {price: "5"}\n',
        "2:3: the plan has no charge 'Setup fee'; expected a charge's name, or its outcome "
        "when it has none: 'Calls', 'Platform fee', 'Resolutions'",
    ),
    "a key the charge's model does not take": (
        'charges:\n  Resolutions: {tiers: [{up_to: null, unit_price: "1"}]}\n',
        "2:17: unknown key 'tiers' in per unit charge; expected one of model, name, outcome, "
        "free_units, group_by, prices, tiers_across, unit_price, divide_by, round",
    ),
    "what the charge prices": (
        "charges:\n  Resolutions: {outcome: call}\n",
        "2:17: unknown key 'outcome' in charge override; expected one of unit_price, price, "
        "tiers, prices, free_units, rate, per_event_min, per_event_max, per_event_fee",
    ),
    "prices by value without a default": (
        'charges:\n  Calls: {prices: {gpt-4o: "0.05"}}\n',
        "2:19: prices needs a default: the price of values it does not list",
    ),
    "a commitment the plan does not have": (
        'commitment:\n  price: "0.45"\n',
        "1:1: the plan has no commitment; an override changes the plan's commitment (units, "
        "amount, price, overage, true_up), it cannot add one: give the plan a commitment in a new "
        "version",
    ),
    "a minimum above the maximum": (
        'minimum: "50.00"\nmaximum: "20.00"\n',
        "1:10: minimum 50.00 is above maximum 20.00",
    ),
    "JSON naming a charge that does not exist": (
        '{"charges": {"Resolutons": {"unit_price": "0.5"}}}\n',
        "1:14: the plan has no charge 'Resolutons'; expected a charge's name, or its outcome "
        "when it has none: 'Calls', 'Platform fee', 'Resolutions'",
    ),
}


@pytest.mark.parametrize("mistake", list(OVERRIDE_MISTAKES))
def test_each_mistake_of_an_override_is_located_in_it(tmp_path: Path, mistake: str) -> None:
    text, expected = OVERRIDE_MISTAKES[mistake]
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "acme.yaml").write_text(text)
    result = runner.invoke(
        app,
        ["rules", "check", str(tmp_path / "plan.yaml"), "--override", str(tmp_path / "acme.yaml")],
    )
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [f"{tmp_path / 'acme.yaml'}:{expected}"]


def test_a_valid_override_says_what_it_changes(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "acme.yaml").write_text(
        'charges:\n  Resolutions: {unit_price: "0.50"}\n'
        '  Calls: {prices: {gpt-4o: "0.05", default: "0.02"}}\nminimum: null\n'
    )
    result = runner.invoke(
        app,
        ["rules", "check", str(tmp_path / "plan.yaml"), "--override", str(tmp_path / "acme.yaml")],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{tmp_path / 'plan.yaml'}: plan support v1 (usd, month): 2 outcomes, 3 charges "
        "(priced per value: call by properties.model)",
        f"{tmp_path / 'acme.yaml'}: override of plan support v1: charges Resolutions, Calls; "
        "minimum",
    ]


def test_an_override_needs_exactly_one_plan(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text("minimum: null\n")
    result = runner.invoke(app, ["rules", "check", "--override", str(tmp_path / "acme.yaml")])
    assert result.exit_code == 2


def test_schema_of_an_override_lists_its_keys() -> None:
    result = runner.invoke(app, ["rules", "schema", "--override"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$id"] == "urn:outcome-metering:schema:override"
    assert set(schema["properties"]) == {"charges", "minimum", "maximum", "commitment"}
    assert schema["additionalProperties"] is False
    charge = schema["$defs"]["ChargeOverride"]
    assert "prices" in charge["properties"] and charge["additionalProperties"] is False
