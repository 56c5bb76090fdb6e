"""`metering rules apply FILE --vendor V`: store a rule file as a new plan version.

It goes through the plans service on the configured database rather than the HTTP API:
an operator applying rules from a deploy job has the database, not a vendor's API key
(keys are stored hashed, so the CLI could not get one), and the service is the same code
the API runs, so the validation and the immutability rules are identical.
"""

from __future__ import annotations

from pathlib import Path

import typer

from metering.catalog.plans import service
from metering.catalog.subscriptions.schemas import ApplyMode
from metering.catalog.vendors.service import VendorNotFound, find_vendor
from metering.ledger.plan_changes.service import apply_version
from metering.platform.api.problems import ProblemError
from metering.surfaces.cli.common import fail
from metering.surfaces.cli.db import open_session
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import read_text


def apply_command(
    file: Path = typer.Argument(..., help="Rule file (YAML)."),
    vendor: str = typer.Option(..., "--vendor", help="Vendor id or name."),
    apply: ApplyMode = typer.Option(
        ApplyMode.NEXT_PERIOD,
        "--apply",
        help="Move the plan's subscribers on older versions to this one: at the end of "
        "their current period, immediately (the period is split), or none.",
    ),
) -> None:
    """Upload a rule file as a new immutable version of its plan."""
    try:
        text = read_text(file)
        with open_session() as session:
            owner = find_vendor(session, vendor)
            upload = service.upload(session, owner, text, str(file))
            state = "stored as" if upload.created else "unchanged, already"
            stored = (
                f"plan {upload.plan.slug} version {upload.version.version} {state} "
                f"{upload.version.id} for vendor {owner.id}"
            )
            number = upload.version.version
            moved = apply_version(session, owner, upload.version, apply)
            session.commit()
    except RuleFileError as error:
        for item in error.errors:
            typer.echo(str(item), err=True)
        raise typer.Exit(code=1) from None
    except (VendorNotFound, ProblemError) as error:
        raise fail(str(error)) from None
    typer.echo(stored)
    changed = sum(1 for change in moved if change.changed)
    if changed:
        when = "now" if apply == ApplyMode.IMMEDIATELY else "at the end of their current period"
        typer.echo(f"{changed} subscriber(s) move to version {number} {when}")
