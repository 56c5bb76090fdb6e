"""Fixtures of the scenario tests: the metering databases (a fresh SQLite file and a fresh
PostgreSQL database per module) and the Stripe harness, shared with tests/metering."""

from __future__ import annotations

from tests.metering.conftest import backend, database_url, engine, module_engine
from tests.metering.providers.stripe.conftest import fake_stripe, module_fake_stripe

__all__ = [
    "backend",
    "database_url",
    "engine",
    "fake_stripe",
    "module_engine",
    "module_fake_stripe",
]
