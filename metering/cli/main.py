"""The `metering` command: a registry of sub-commands, one module per domain."""

from __future__ import annotations

import typer

from metering.cli.rules import rules_app

app = typer.Typer(
    name="metering",
    help="Outcome-based pricing and metering.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rules_app, name="rules")
