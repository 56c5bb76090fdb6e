"""`metering outcomes ...`: derive outcome rows again from the stored events."""

from __future__ import annotations

import typer

outcomes_app = typer.Typer(help="Outcome rows derived from events.", no_args_is_help=True)
