"""What the PostgreSQL benchmarks share: a fresh database, the seeded vendor, plan and
customers, loading events (and the outcome rows the core derives) with COPY, in a child
process whose memory does not count in the benchmark's.

Imported as `postgres` by the scripts in this directory (see `common`). Needs the
PostgreSQL server at 127.0.0.1:5432 (METERING_BENCH_POSTGRES_URL to change it).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from metering.catalog.customers.models import Customer
from metering.catalog.plans.service import upload
from metering.catalog.subscriptions.models import Subscription
from metering.catalog.vendors.service import create_vendor
from metering.ledger.states import EventStatus, KeyFacts, Reversal, group_states
from metering.ledger.tallies import repository as tallies
from metering.platform.db import jsontext
from metering.platform.db.engine import make_engine
from metering.platform.db.ids import new_id
from metering.platform.db.migrate import upgrade
from pricing_rules.events import Event
from pricing_rules.outcomes import Candidate, ClaimKind, compile_plan
from pricing_rules.periods import Period
from pricing_rules.rules import RuleFile

ADMIN_URL = os.environ.get(
    "METERING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
EVENT_COLUMNS = (
    "pk, vendor_id, event_id, type, customer_id, customer_external_id, occurred_at, "
    "received_at, properties, cost, content_hash, status, plan_version_id"
)
OUTCOME_COLUMNS = (
    "vendor_id, customer_id, plan_version_id, event_pk, event_id, outcome, period_start, "
    "period_end, dedupe_key, match_key, occurred_at, value, value_text, problem, "
    "settles_at, verify_by, state, counted_from, counted_until, dimension"
)


def admin(statement: str) -> None:
    """Run `statement` (CREATE or DROP DATABASE) outside a transaction on the server."""
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def conninfo(url: str) -> str:
    """The SQLAlchemy `url` as psycopg takes it, for COPY."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """A new migrated database `name` (one left by a broken run is dropped first); its URL.
    Dropped afterwards, whatever happens."""
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Seeded:
    """The rows `seed` made: what the loaders and the timed code refer to."""

    vendor_id: str
    api_key: str
    plan_id: str
    version_id: str
    customer_ids: dict[str, str]  # external id -> customer id


def seed(
    url: str,
    rules: str,
    filename: str,
    external_ids: Iterable[str],
    starts_at: datetime,
    vendor: str = "Bench",
) -> Seeded:
    """A vendor, the plan in `rules`, and customers subscribed to it from `starts_at`."""
    engine = make_engine(url)
    with Session(engine) as session:
        made = create_vendor(session, vendor)
        uploaded = upload(session, made.vendor, rules, filename)
        ids = {}
        for external_id in external_ids:
            customer = Customer(id=new_id("cus"), vendor_id=made.vendor.id, external_id=external_id)
            session.add(customer)
            session.flush()
            session.add(
                Subscription(
                    id=new_id("sub"),
                    vendor_id=made.vendor.id,
                    customer_id=customer.id,
                    plan_id=uploaded.plan.id,
                    plan_version_id=uploaded.version.id,
                    starts_at=starts_at,
                )
            )
            ids[external_id] = customer.id
        session.commit()
        seeded = Seeded(made.vendor.id, made.api_key, uploaded.plan.id, uploaded.version.id, ids)
    engine.dispose()
    return seeded


def copy_events(
    url: str,
    seeded: Seeded,
    events: Iterable[Event],
    received: datetime | None,
    outcomes: tuple[RuleFile, Period] | None = None,
) -> None:
    """COPY `events` (received at `received`, or when they occurred if None) into the
    seeded database; with `outcomes`, also the outcome rows the pure core derives from them
    in that period: classify, then `key_states` per dedupe key, as ingestion does, and the
    running tallies ingestion keeps of them. Without, every event is stored as counted.
    Then ANALYZE."""
    plan = None if outcomes is None else compile_plan(outcomes[0])
    candidates: dict[tuple[str, str, str], list[tuple[Candidate, int, Any]]] = {}
    reversals: dict[tuple[str, str], list[Reversal]] = {}
    ids = seeded.customer_ids
    with psycopg.connect(conninfo(url)) as connection, connection.cursor() as cursor:
        # The rows are consistent by construction: skip the per-row foreign key triggers.
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for pk, event in enumerate(events, start=1):
                status = EventStatus.COUNTED
                if plan is not None:
                    found = plan.classify(event)
                    for hit in found.outcomes:
                        key = (event.customer, hit.outcome, hit.dedupe_key)
                        candidate = Candidate(
                            event.id, event.timestamp, hit.match_key, problem=hit.problem
                        )
                        candidates.setdefault(key, []).append((candidate, pk, hit))
                    for reversal in found.reversals:
                        reversals.setdefault((event.customer, reversal.outcome), []).append(
                            Reversal(reversal.match_key, event.timestamp, kind=reversal.kind)
                        )
                    status = (
                        EventStatus.COUNTED
                        if found.outcomes
                        else CLAIM_STATUS[found.reversals[0].kind]
                        if found.reversals
                        else EventStatus.UNMATCHED
                    )
                copy.write_row(
                    (
                        pk,
                        seeded.vendor_id,
                        event.id,
                        event.type,
                        ids[event.customer],
                        event.customer,
                        event.timestamp,
                        event.timestamp if received is None else received,
                        jsontext.dumps(event.properties),
                        None if event.cost is None else jsontext.dumps(event.cost),
                        f"{pk:064x}",
                        status,
                        seeded.version_id,
                    )
                )
        cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'pk'), max(pk)) FROM events")
        if outcomes is not None:
            period = outcomes[1]
            assert plan is not None
            with cursor.copy(f"COPY outcomes ({OUTCOME_COLUMNS}) FROM STDIN") as copy:
                for subject in _subjects(plan.exclusive_order, candidates):
                    facts = []
                    for customer, outcome, key in subject:
                        members = candidates.get((customer, outcome, key), [])
                        relevant = {m[0].match_key for m in members}
                        found_reversals = reversals.get((customer, outcome), [])
                        facts.append(
                            KeyFacts(
                                [member[0] for member in members],
                                [r for r in found_reversals if r.match_key in relevant],
                                verification=plan.verification.get(outcome),
                            )
                        )
                    for (customer, outcome, key), resolved in zip(
                        subject, group_states(facts), strict=True
                    ):
                        states = {k.candidate.event_id: k for k in resolved}
                        for candidate, pk, hit in candidates.get((customer, outcome, key), []):
                            state = states[candidate.event_id]
                            copy.write_row(
                                (
                                    seeded.vendor_id,
                                    ids[customer],
                                    seeded.version_id,
                                    pk,
                                    candidate.event_id,
                                    outcome,
                                    period.start,
                                    period.end,
                                    key,
                                    hit.match_key,
                                    candidate.occurred_at,
                                    hit.value if isinstance(hit.value, Decimal) else None,
                                    hit.value if isinstance(hit.value, str) else None,
                                    hit.problem,
                                    hit.settles_at,
                                    hit.verify_by,
                                    state.state,
                                    state.counted_from,
                                    state.counted_until,
                                    hit.dimension,
                                )
                            )
        connection.commit()
        if outcomes is not None:
            engine = make_engine(url)
            with Session(engine) as session:
                tallies.rebuild(session, ids.values(), outcomes[1].start)
                session.commit()
            engine.dispose()
        cursor.execute("ANALYZE")


CLAIM_STATUS = {
    ClaimKind.REVERSAL: EventStatus.REVERSAL,
    ClaimKind.REJECTION: EventStatus.REJECTION,
    ClaimKind.CONFIRMATION: EventStatus.CONFIRMATION,
}

CandidateKey = tuple[str, str, str]  # customer, outcome, dedupe key


def _subjects(
    order: tuple[str, ...], candidates: dict[CandidateKey, Any]
) -> Iterator[tuple[CandidateKey, ...]]:
    """Each key alone, or with an exclusive plan the keys of one subject in `order`."""
    done: set[tuple[str, str]] = set()
    for customer, outcome, key in candidates:
        if outcome not in order:
            yield ((customer, outcome, key),)
        elif (customer, key) not in done:
            done.add((customer, key))
            yield tuple((customer, name, key) for name in order)


def load_in_child(load: Callable[..., None], *args: Any) -> str:
    """Run `load(*args, expected)` in a fresh process, so that its memory does not count in
    this one's peak RSS; the string it set in `expected.value`."""
    context = multiprocessing.get_context("spawn")
    expected = context.Manager().Value(str, "")
    child = context.Process(target=load, args=(*args, expected))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"loading failed with exit code {child.exitcode}")
    value: str = expected.value
    return value


@contextmanager
def loaded_database(
    name: str, load: Callable[..., None], events: int, *args: Any
) -> Iterator[tuple[str, str]]:
    """A fresh database `name` that `load(url, events, *args, expected)` filled in a child
    process (not timed); its URL and the string the child left in `expected.value`."""
    with fresh_database(name) as url:
        began = time.perf_counter()
        expected = load_in_child(load, url, events, *args)
        print(f"loaded {events:,} events in {time.perf_counter() - began:.1f} s (not timed)")
        yield url, expected
