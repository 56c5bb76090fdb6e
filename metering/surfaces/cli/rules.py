"""`metering rules ...`: check rule files, print their JSON Schema, price events.

Errors are printed as plain `FILE:LINE:COL: message` lines so editors and CI logs can jump
to them; nothing is wrapped or styled.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from metering.surfaces.cli.price import price_command
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules_file
from pricing_rules.rules import RuleFile
from pricing_rules.schema import rule_file_schema

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
) -> None:
    """Validate rule files; print each error as FILE:LINE:COL: message."""
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
    if failed:
        raise typer.Exit(code=1)


@rules_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of rule files, for editors and CI."""
    typer.echo(json.dumps(rule_file_schema(), indent=2))
