"""Database fixtures: every test runs on a fresh SQLite file and a fresh PostgreSQL database.

Both are made by running the Alembic migrations, never `create_all`. The PostgreSQL server
is the one at 127.0.0.1:5432 (override with METERING_TEST_POSTGRES_URL); when it does not
answer, the PostgreSQL tests fail with a message saying so: CI must never skip them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from metering.billing.credits import ledger as credits_ledger
from metering.platform.db import migrate
from metering.platform.db.engine import make_engine
from metering.platform.settings import Settings
from metering.surfaces.tables import metadata

ADMIN_URL = os.environ.get(
    "METERING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
LOCAL_RECEIVERS = ["127.0.0.1"]
"""Where the suite's webhook receivers listen. Webhooks go only to https URLs on public
addresses unless the operator allows hosts for development; tests that deliver to these
receivers allow this address explicitly (`receiving_settings`), never by default."""


def receiving_settings(**values: Any) -> Settings:
    """Settings that let webhooks reach the local test receivers."""
    return Settings(webhook_allowed_hosts=LOCAL_RECEIVERS, **values)


def _admin_engine() -> Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration of the block; its URL."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"metering_test_{label}_{worker}_{secrets.token_hex(4)}".lower()
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {make_url(ADMIN_URL).render_as_string()} is not answering, so the "
            f"PostgreSQL tests cannot run (start it; .ci/run does): {exc.orig}",
            pytrace=False,
        )
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_database(backend: str, directory: Path, label: str) -> Iterator[str]:
    """The URL of a new database with no tables on `backend`."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'{label}.db'}"
    else:
        with postgres_database(label) as url:
            yield url


@contextmanager
def migrated_database(backend: str, directory: Path, label: str) -> Iterator[str]:
    """A new database brought to the latest migration; its URL."""
    with empty_database(backend, directory, label) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per test module and backend."""
    with migrated_database(backend, tmp_path_factory.mktemp("db"), "module") as url:
        yield url


@pytest.fixture(scope="module")
def module_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _clear(engine: Engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            tables = ", ".join(table.name for table in metadata.sorted_tables)
            connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def engine(module_engine: Engine) -> Iterator[Engine]:
    """The module's database, emptied before each test (the schema stays as migrated). After
    every test, whatever its scenario, the prepaid credits' ledger must be right: each
    grant's remaining is the sum of its entries and never below zero, and each entry's
    invoice exists and is its customer's."""
    _clear(module_engine)
    yield module_engine
    with Session(module_engine) as session:
        assert credits_ledger.invariant_violations(session) == []


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def app(engine: Engine, database_url: str) -> Any:
    """The FastAPI app on the test database (the app builds its own engine from the URL)."""
    from metering.surfaces.app import create_app

    return create_app(receiving_settings(database_url=database_url))


@pytest.fixture
def app_client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield client


SUPPORT_RULES = """\
plan: support-agent
version: 1
currency: usd
billing:
  interval: month
  timezone: UTC
  close_after: 72h
outcomes:
  resolved_conversation:
    event: conversation.resolved
    where:
      properties.channel: {in: [chat, email]}
      properties.handled_by: {eq: ai}
    unique_by: properties.conversation_id
    settle:
      after: 72h
      reversed_by: {event: conversation.reopened, match: properties.conversation_id}
    measure: count
  pipeline_value:
    event: deal.closed
    measure: {sum: properties.amount}
charges:
  - outcome: resolved_conversation
    model: per_unit
    unit_price: "0.99"
  - outcome: pipeline_value
    model: percentage
    rate: "1.5"
"""


@dataclass(frozen=True)
class VendorFixture:
    """A stored vendor with its API key and signing secret in clear."""

    id: str
    api_key: str
    signing_secret: str


def create_vendor(engine: Engine, name: str) -> VendorFixture:
    from metering.catalog.vendors.service import create_vendor as create

    with Session(engine) as session:
        made = create(session, name)
        session.commit()
        return VendorFixture(made.vendor.id, made.api_key, made.signing_secret)


def create_plan(engine: Engine, vendor_id: str, rules: str = SUPPORT_RULES) -> str:
    """Upload `rules` as a plan version of the vendor; the plan id."""
    from metering.catalog.plans.service import upload
    from metering.catalog.vendors.models import Vendor

    with Session(engine) as session:
        vendor = session.get(Vendor, vendor_id)
        assert vendor is not None
        plan_id = upload(session, vendor, rules, "rules.yaml").plan.id
        session.commit()
        return plan_id


DEFAULT_START = datetime(2020, 1, 1, tzinfo=UTC)


def create_customer(
    engine: Engine,
    vendor_id: str,
    external_id: str,
    plan_id: str | None = None,
    starts_at: datetime | None = None,
) -> str:
    """A provisioned customer; with `plan_id`, subscribed to the plan's latest version from
    `starts_at` (2020-01-01 by default, so every test event falls inside it)."""
    from metering.catalog.customers.models import Customer
    from metering.catalog.plans.repository import latest_version
    from metering.catalog.subscriptions.models import Subscription
    from metering.platform.db.ids import new_id

    with Session(engine) as session:
        customer = Customer(id=new_id("cus"), vendor_id=vendor_id, external_id=external_id)
        session.add(customer)
        if plan_id is not None:
            version = latest_version(session, plan_id)
            assert version is not None, f"plan {plan_id} has no version"
            session.flush()
            session.add(
                Subscription(
                    id=new_id("sub"),
                    vendor_id=vendor_id,
                    customer_id=customer.id,
                    plan_id=plan_id,
                    plan_version_id=version.id,
                    starts_at=starts_at or DEFAULT_START,
                )
            )
        session.commit()
        return customer.id


@pytest.fixture
def vendor(engine: Engine) -> VendorFixture:
    return create_vendor(engine, "Acme AI")


@pytest.fixture
def plan_id(engine: Engine, vendor: VendorFixture) -> str:
    return create_plan(engine, vendor.id)
