"""`metering invoices ...`: close due periods by hand, show an invoice."""

from __future__ import annotations

import typer

invoices_app = typer.Typer(help="Invoices: close due periods, show one.", no_args_is_help=True)
