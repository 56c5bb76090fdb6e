"""`make run`: a demo vendor, customers and plans, demo events through the signed webhook.

The demo customers are collected by the `manual` provider (invoices sent, payments recorded
through the API), so it needs no Stripe key.

Every step is idempotent, so a second run (or a fresh clone) works: the vendor is found by
name, rule files re-upload as no-ops, customers are created once, and the demo events of a
day have fixed ids and timestamps, so sending them again reports duplicates. Each run
issues a new API key, since a stored key is only a hash and cannot be printed again.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from sqlmodel import Session

from metering.billing.invoices.close import close_due
from metering.catalog.customers import repository as customers
from metering.catalog.customers import service as customer_service
from metering.catalog.customers.models import CustomerStatus, PaymentProviderName
from metering.catalog.customers.schemas import CustomerCreate
from metering.catalog.plans import service as plan_service
from metering.catalog.subscriptions import repository as subscriptions
from metering.catalog.vendors import repository as vendors
from metering.catalog.vendors import service as vendor_service
from metering.ledger.plan_changes import service as plan_changes
from metering.platform.api.problems import ProblemError
from metering.platform.db import migrate
from metering.platform.db.engine import make_engine
from metering.platform.settings import Settings, get_settings
from metering.surfaces.app import create_app
from metering.surfaces.cli.db import database_label
from metering.surfaces.cli.events import Line, SendReport, print_report, send_events
from metering.surfaces.jobs import running_jobs
from pricing_rules.loader import load_rules
from pricing_rules.periods import zone

EXAMPLES = Path(__file__).resolve().parents[1] / "pricing_rules" / "examples"
DEMO_VENDOR = "Demo Vendor"
# (external id, name, plan slug); "stark" is never created: its events make it unprovisioned.
DEMO_CUSTOMERS = [
    ("acme", "Acme Corp", "support-agent"),
    ("globex", "Globex", "support-agent"),
    ("umbrella", "Umbrella Inc", "sales-agent"),
    ("hooli", "Hooli", "deal-value"),
]
PORTAL_CUSTOMER = "acme"
MANUAL = PaymentProviderName.MANUAL
EVENTS_PER_CUSTOMER = 80
EVENTS_PER_CUSTOMER_LAST_MONTH = 40


@dataclass(frozen=True)
class DemoCredentials:
    vendor_id: str
    api_key: str
    signing_secret: str


def demo_start(today: date, timezone: str = "UTC") -> datetime:
    """Subscriptions start on the first of the month two months back, at local midnight in
    the plan's timezone, so the previous month is a whole period that the close invoices."""
    month = today.month - 2
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=zone(timezone)).astimezone(UTC)


def prepare(session: Session) -> DemoCredentials:
    """The demo vendor, its plans and customers, made or found; a fresh API key."""
    named = vendors.vendors_named(session, DEMO_VENDOR)
    if named:
        vendor = named[0]
        api_key = vendor_service.issue_api_key(session, vendor).key
    else:
        created = vendor_service.create_vendor(session, DEMO_VENDOR)
        vendor, api_key = created.vendor, created.api_key
    timezones = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        plan_service.upload(session, vendor, text, path.name)
        rules = load_rules(text, path.name)
        timezones[rules.plan] = rules.billing.timezone
    for external_id, name, plan in DEMO_CUSTOMERS:
        customer = customers.by_external_id(session, vendor.id, external_id)
        if customer is None or customer.status == CustomerStatus.UNPROVISIONED.value:
            data = CustomerCreate(external_id=external_id, name=name, payment_provider=MANUAL)
            customer = customer_service.create(session, vendor, data)
        customer.payment_provider = MANUAL.value  # a demo from before providers had Stripe's
        if not subscriptions.of_customer(session, customer.id):
            plan_changes.subscribe(
                session,
                vendor,
                customer,
                plan,
                starts_at=demo_start(date.today(), timezones[plan]),
            )
    secret = vendors.current_secret(session, vendor.id)
    assert secret is not None
    return DemoCredentials(vendor.id, api_key, secret.secret)


def _support(rng: random.Random, n: int) -> tuple[str, dict[str, Any]]:
    conversation = f"c-{n // 2}"  # pairs share a conversation: the second is a duplicate
    if rng.random() < 0.08:
        return "conversation.reopened", {"conversation_id": conversation}
    return "conversation.resolved", {
        "conversation_id": conversation,
        "channel": rng.choice(["chat", "chat", "email", "phone"]),
        "handled_by": rng.choice(["ai", "ai", "ai", "human"]),
        "test": rng.random() < 0.05,
    }


def _sales(rng: random.Random, n: int) -> tuple[str, dict[str, Any]]:
    lead = f"L-{n}"
    if rng.random() < 0.1:
        return "lead.disqualified", {"lead_id": f"L-{max(n - 1, 0)}"}
    source = rng.choice(["web", "web", "referral", "test"])
    return "lead.qualified", {"lead_id": lead, "score": rng.randint(40, 100), "source": source}


def _deals(rng: random.Random, n: int) -> tuple[str, dict[str, Any]]:
    stage = rng.choice(["closed_won", "closed_won", "closed_lost"])
    amount = f"{rng.randint(50, 400_000) / 100:.2f}"
    return "deal.closed", {"deal_id": f"D-{n}", "stage": stage, "amount": amount}


GENERATORS = {"support-agent": _support, "sales-agent": _sales, "deal-value": _deals}


@cache
def plan_currencies() -> dict[str, str]:
    """Each example plan's currency: what an event's cost is written in (margin reports)."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        rules = load_rules(path.read_text(encoding="utf-8"), path.name)
        found[rules.plan] = rules.currency
    return found


def _generate(
    rng: random.Random, prefix: str, start: datetime, span: timedelta, per_customer: int
) -> list[dict[str, Any]]:
    seconds = int(span.total_seconds())
    customers_and_plans = [(c, p) for c, _, p in DEMO_CUSTOMERS] + [("stark", "support-agent")]
    events: list[dict[str, Any]] = []
    for customer, plan in customers_and_plans:
        count = 5 if customer == "stark" else per_customer
        for n in range(count):
            event_type, properties = GENERATORS[plan](rng, n)
            events.append(
                {
                    "id": f"{prefix}-{customer}-{n:03d}",
                    "type": event_type,
                    "customer": customer,
                    "timestamp": (start + timedelta(seconds=rng.randrange(seconds))).isoformat(),
                    "properties": properties,
                    "cost": {
                        "amount": f"{rng.randint(1, 90) / 1000:.3f}",
                        "currency": plan_currencies()[plan],
                    },
                }
            )
    return events


def previous_month(day: date) -> tuple[datetime, datetime]:
    """[first of last month, first of this month) in UTC."""
    this_month = datetime(day.year, day.month, 1, tzinfo=UTC)
    last = (this_month - timedelta(days=1)).replace(day=1)
    return last, this_month


def demo_events(day: date) -> list[dict[str, Any]]:
    """The same few hundred events all day: spread over the six days before `day`, and over
    the previous month (ids fixed per month), so the close has a whole period to invoice."""
    recent_start = datetime.combine(day, clock(), tzinfo=UTC) - timedelta(days=6)
    recent = _generate(
        random.Random(day.toordinal()),
        f"demo-{day.isoformat()}",
        recent_start,
        timedelta(days=6),
        EVENTS_PER_CUSTOMER,
    )
    start, end = previous_month(day)
    earlier = _generate(
        random.Random(start.toordinal()),
        f"demo-{start:%Y-%m}-month",
        start,
        end - start,
        EVENTS_PER_CUSTOMER_LAST_MONTH,
    )
    return sorted(recent + earlier, key=lambda event: str(event["timestamp"]))


def wait_until_serving(url: str, within: float = 60) -> None:
    """Until the API answers. `/healthz`, not `/readyz`: the demo has migrated the database
    itself, and starts the jobs only after sending its events, while `/readyz` is not ready
    as long as the jobs of an earlier run (stopped, their last success recorded in the
    database) are overdue: a second `make run` would wait for itself."""
    deadline = time.monotonic() + within
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{url}/healthz did not answer 200 within {within:g} s")


def send_demo_events(url: str, credentials: DemoCredentials, console: Console) -> SendReport:
    lines = [Line(n, event) for n, event in enumerate(demo_events(date.today()), start=1)]
    report = SendReport()
    with httpx.Client(base_url=url, timeout=60) as client:
        send_events(client, credentials.vendor_id, credentials.signing_secret, lines, report)
    print_report(report, console)
    return report


def close_periods(settings: Settings, console: Console) -> None:
    """Close the demo's ended periods now, so the first look at the API shows invoices (the
    jobs started next keep doing it while the demo serves)."""
    engine = make_engine(settings.database_url)
    try:
        report = close_due(engine)
    finally:
        engine.dispose()
    total = len(report.invoices)
    console.print(f"closed {total} period{'' if total == 1 else 's'}: invoices issued")


def portal_link(url: str, credentials: DemoCredentials, external_id: str = PORTAL_CUSTOMER) -> str:
    """A billing-portal sign-in link for a demo customer, made through the vendor API."""
    headers = {"Authorization": f"Bearer {credentials.api_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        found = client.get("/v1/customers", params={"external_id": external_id})
        found.raise_for_status()
        customer_id = found.json()["data"][0]["id"]
        made = client.post(
            "/v1/portal_sessions", json={"customer": customer_id, "return_url": f"{url}/docs"}
        )
        made.raise_for_status()
        link: str = made.json()["url"]
        return link


def print_portal(url: str, credentials: DemoCredentials, console: Console) -> None:
    link = portal_link(url, credentials)
    console.print(f"\n[bold]billing portal[/bold]  {PORTAL_CUSTOMER}'s portal, open this link:")
    console.print(f"  {link}", markup=False, highlight=False)
    console.print(
        "  (opens once, within 15 minutes; a new one: "
        f".venv/bin/metering portal link {PORTAL_CUSTOMER} --base-url {url})",
        markup=False,
        highlight=False,
    )


def print_access(url: str, credentials: DemoCredentials, console: Console) -> None:
    console.print(f"\n[bold]API docs[/bold]        {url}/docs")
    console.print(f"[bold]API base[/bold]        {url}/v1")
    console.print(f"[bold]invoices[/bold]        {url}/v1/invoices")
    console.print(f"[bold]webhook[/bold]         {url}/v1/webhooks/{credentials.vendor_id}/events")
    console.print(f"[bold]API key[/bold]         {credentials.api_key}")
    console.print(f"[bold]signing secret[/bold]  {credentials.signing_secret}")
    console.print(
        f"\ntry: curl -H \"Authorization: Bearer {credentials.api_key}\" '{url}/v1/events?limit=5'"
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo.seed", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--once", action="store_true", help="stop after sending the events")
    return parser.parse_args(argv)


@dataclass
class _Outcome:
    report: SendReport | None = None
    error: BaseException | None = None
    jobs: ExitStack = field(default_factory=ExitStack)


def _stream(
    outcome: _Outcome,
    url: str,
    credentials: DemoCredentials,
    console: Console,
    server: uvicorn.Server,
    once: bool,
) -> None:
    """Send the events, close what has ended, then leave the jobs running beside the API."""
    settings = get_settings()
    try:
        wait_until_serving(url)
        outcome.report = send_demo_events(url, credentials, console)
        close_periods(settings, console)
        if not once:
            outcome.jobs.enter_context(running_jobs(settings))
        print_access(url, credentials, console)
        print_portal(url, credentials, console)
        if not once:
            console.print("\nserving; press Ctrl+C to stop")
    except BaseException as error:  # reported by the main thread
        outcome.error = error
        server.should_exit = True
    if once:
        server.should_exit = True


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    console = Console(soft_wrap=True)
    settings = get_settings()
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            credentials = prepare(session)
            session.commit()
    except ProblemError as error:
        # An example plan changed since this database's demo ran (versions are immutable).
        console.print(
            f"[red]demo failed:[/red] {error.detail}\n"
            f"This database holds an earlier demo; remove it to start over: "
            f"{database_label(settings.database_url)} (make clean removes var/)."
        )
        return 1
    finally:
        engine.dispose()
    console.print(f"database {database_label(settings.database_url)} ready; demo vendor set up")
    config = uvicorn.Config(
        create_app(settings), host=args.host, port=args.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    url = f"http://{args.host}:{args.port}"
    outcome = _Outcome()
    sender = threading.Thread(
        target=_stream, args=(outcome, url, credentials, console, server, args.once), daemon=True
    )
    sender.start()
    server.run()  # in the main thread, so Ctrl+C stops it cleanly
    sender.join(timeout=5)
    outcome.jobs.close()
    if outcome.error is not None:
        console.print(f"[red]demo failed:[/red] {outcome.error}")
        return 1
    return 0
