"""`metering rules price`: price a JSON-lines events file under a rule file."""

from __future__ import annotations

import typer


def price_command(
    file: str = typer.Argument(..., help="Rule file (YAML)."),
) -> None:
    """Price the events of each customer in a billing period."""
    raise typer.Exit(code=2)
