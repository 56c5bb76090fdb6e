"""`metering events send FILE.jsonl --vendor V`: post events through the signed webhook.

This is how a newcomer tries the webhook, and a reference for a vendor's own sender: each
batch is signed with Standard Webhooks (`standardwebhooks` package) when it is sent, and
its `webhook-id` is derived from the body, so a retried batch carries the same id and is
stored once (events are idempotent by their own ids anyway).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from standardwebhooks import Webhook

from metering.catalog.vendors import repository
from metering.catalog.vendors.service import VendorNotFound, find_vendor
from metering.surfaces.cli.common import fail
from metering.surfaces.cli.db import open_session

events_app = typer.Typer(help="Send events to the webhook.", no_args_is_help=True)

BATCH_SIZE = 500
ATTEMPTS = 3


@dataclass(frozen=True)
class Line:
    number: int
    event: Any


@dataclass(frozen=True)
class Rejection:
    line: int
    id: str | None
    status: int
    detail: str


@dataclass
class SendReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def read_lines(path: Path, report: SendReport) -> list[Line]:
    """The JSON value of each non-blank line; unparsable lines go straight to the report."""
    lines: list[Line] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                lines.append(Line(number, json.loads(text)))
            except json.JSONDecodeError as error:
                detail = f"not JSON: {error.msg} at column {error.colno}"
                report.rejected.append(Rejection(number, None, 400, detail))
    return lines


def batches(lines: Sequence[Line], size: int) -> Iterator[Sequence[Line]]:
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


def signed_request(secret: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed now."""
    message_id = "msg_" + hashlib.sha256(body.encode()).hexdigest()[:32]
    sent_at = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, body),
    }


def _post(client: httpx.Client, path: str, secret: str, body: str) -> httpx.Response:
    """Post one batch, signing each attempt anew; retries are safe (idempotent ids)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = client.post(path, content=body, headers=signed_request(secret, body))
        except httpx.TransportError:
            if attempt == ATTEMPTS:
                raise
        else:
            if response.status_code < 500 or attempt == ATTEMPTS:
                return response
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _problem_detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or response.reason_phrase)


def send_batch(
    client: httpx.Client, vendor_id: str, secret: str, batch: Sequence[Line], report: SendReport
) -> None:
    body = json.dumps({"events": [line.event for line in batch]}, separators=(",", ":"))
    response = _post(client, f"/v1/webhooks/{vendor_id}/events", secret, body)
    if response.status_code >= 400:
        detail = _problem_detail(response)
        for line in batch:
            event_id = line.event.get("id") if isinstance(line.event, dict) else None
            report.rejected.append(Rejection(line.number, event_id, response.status_code, detail))
        return
    result = response.json()
    report.accepted += result["accepted"]
    report.duplicates += result["duplicates"]
    for item in result["rejected"]:
        line = batch[item["index"]]
        report.rejected.append(Rejection(line.number, item["id"], item["status"], item["detail"]))


def send_events(
    client: httpx.Client,
    vendor_id: str,
    secret: str,
    lines: Sequence[Line],
    report: SendReport,
    batch_size: int = BATCH_SIZE,
    console: Console | None = None,
) -> SendReport:
    """Post `lines` in signed batches, with a progress bar on `console`."""
    with Progress(console=console or Console(stderr=True), transient=False) as progress:
        task = progress.add_task("sending events", total=len(lines))
        for batch in batches(lines, batch_size):
            send_batch(client, vendor_id, secret, batch, report)
            progress.advance(task, len(batch))
    return report


def _credentials(vendor: str, secret: str | None) -> tuple[str, str]:
    """The vendor id and the secret to sign with: given, or the current one in the database."""
    if secret is not None:
        return vendor, secret
    with open_session() as session:
        found = find_vendor(session, vendor)
        current = repository.current_secret(session, found.id)
        if current is None:
            raise VendorNotFound(f"vendor '{vendor}' has no signing secret")
        return found.id, current.secret


def print_report(report: SendReport, console: Console, shown: int = 20) -> None:
    rejected = sorted(report.rejected, key=lambda rejection: rejection.line)
    console.print(
        f"accepted {report.accepted}, duplicates {report.duplicates}, rejected {len(rejected)}"
    )
    if not rejected:
        return
    table = Table("line", "id", "status", "detail")
    for rejection in rejected[:shown]:
        table.add_row(
            str(rejection.line), rejection.id or "", str(rejection.status), rejection.detail
        )
    console.print(table)
    if len(rejected) > shown:
        console.print(f"... and {len(rejected) - shown} more")


@events_app.command("send")
def send(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Events, one JSON a line."),
    vendor: str = typer.Option(..., "--vendor", help="Vendor id (or name, with the database)."),
    url: str = typer.Option(
        "http://127.0.0.1:8000", "--url", envvar="METERING_URL", help="Base URL of the API."
    ),
    secret: str | None = typer.Option(
        None,
        "--secret",
        envvar="METERING_SIGNING_SECRET",
        help="Signing secret; read from the database when omitted.",
    ),
    batch_size: int = typer.Option(BATCH_SIZE, min=1, max=1000, help="Events per request."),
) -> None:
    """Sign and post events in batches; report accepted, duplicates and rejected by line."""
    console = Console()
    try:
        vendor_id, signing_secret = _credentials(vendor, secret)
    except VendorNotFound as error:
        raise fail(str(error)) from None
    report = SendReport()
    lines = read_lines(file, report)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            send_events(client, vendor_id, signing_secret, lines, report, batch_size)
    except httpx.TransportError as error:
        raise fail(f"cannot reach {url}: {error}") from None
    print_report(report, console)
    if report.rejected:
        raise typer.Exit(code=1)
