"""`metering rules ...`: check rule files (and a customer's override of one), print their
JSON Schema, price events.

Errors are printed as plain `FILE:LINE:COL: message` lines so editors and CI logs can jump
to them; nothing is wrapped or styled.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from metering.surfaces.cli.price import price_command
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules_file, read_text
from pricing_rules.overrides import apply_override, override_summary
from pricing_rules.rules import RuleFile
from pricing_rules.schema import override_schema, rule_file_schema

rules_app = typer.Typer(help="Check and use YAML pricing rule files.", no_args_is_help=True)
rules_app.command("price")(price_command)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def summary(rules: RuleFile) -> str:
    """One line saying what a valid rule file defines."""
    grouped = sorted({f"{o} by {p}" for o, p in rules.group_paths.items()})
    return (
        f"plan {rules.plan} v{rules.version} ({rules.currency}, {rules.billing.interval}): "
        f"{_count(len(rules.outcomes), 'outcome')}, {_count(len(rules.charges), 'charge')}"
        + (f" (priced per value: {', '.join(grouped)})" if grouped else "")
    )


@rules_app.command("check")
def check(
    files: list[Path] = typer.Argument(..., help="Rule files (YAML) to validate."),
    overrides: list[Path] = typer.Option(
        [],
        "--override",
        help="A customer's override (YAML or JSON) to check over the rule file; repeatable.",
    ),
) -> None:
    """Validate rule files; print each error as FILE:LINE:COL: message.

    With --override, each override is checked over the (single) rule file exactly as
    `POST /v1/customers/{id}/overrides` checks it over the customer's plan version."""
    if overrides and len(files) != 1:
        typer.echo("--override needs exactly one rule file: the plan it overrides", err=True)
        raise typer.Exit(code=2)
    failed = False
    for path in files:
        try:
            rules = load_rules_file(path)
        except RuleFileError as invalid:
            failed = True
            for error in invalid.errors:
                typer.echo(str(error))
            continue
        typer.echo(f"{path}: {summary(rules)}")
        for override in overrides:
            failed = not _check_override(override, rules) or failed
    if failed:
        raise typer.Exit(code=1)


def _check_override(path: Path, rules: RuleFile) -> bool:
    """Print the override's located errors, or what it changes; True when it is valid."""
    try:
        apply_override(read_text(path), rules, str(path))
    except RuleFileError as invalid:
        for error in invalid.errors:
            typer.echo(str(error))
        return False
    changes = override_summary(read_text(path), str(path))
    typer.echo(f"{path}: override of plan {rules.plan} v{rules.version}: {changes}")
    return True


@rules_app.command("schema")
def schema(
    override: bool = typer.Option(
        False, "--override", help="The schema of a customer's override instead."
    ),
) -> None:
    """Print the JSON Schema of rule files (or of overrides), for editors and CI."""
    typer.echo(json.dumps(override_schema() if override else rule_file_schema(), indent=2))
